import pytest

from services.bench.rounds import Round, Rounds


def _rounds(*pairs, comparable=None):
    flags = comparable or [True] * len(pairs)
    return Rounds(
        baseline="bare",
        target="intake",
        unit="req/s",
        threshold=0.5,
        rounds=tuple(
            Round(baseline=base, target=target, comparable=flag)
            for (base, target), flag in zip(pairs, flags, strict=True)
        ),
    )


def test_the_median_of_the_rounds_ratios_is_judged_not_any_one_round():
    rounds = _rounds((10_000, 3_700), (7_000, 5_000), (9_000, 4_500))
    assert [r.ratio for r in rounds.rounds] == [0.37, 5 / 7, 0.5]
    assert rounds.median == 0.5
    assert rounds.verdict().passed  # the boundary passes
    assert rounds.verdict().label == "median intake / bare over 3 rounds ≥ 50%"
    assert not _rounds((10_000, 3_700), (7_000, 5_000), (9_000, 4_400)).verdict().passed


def test_an_even_number_of_rounds_takes_the_middle_two():
    assert _rounds((100, 40), (100, 70)).median == pytest.approx(0.55)


def test_a_round_that_is_not_comparable_fails_the_median_and_says_so():
    rounds = _rounds((100, 90), (100, 80), (100, 70), comparable=[True, False, True])
    assert rounds.rounds[1].ratio is None
    assert not rounds.comparable
    assert rounds.median is None
    assert not rounds.verdict().passed
    lines = rounds.lines()
    assert "not comparable" in lines[3]
    assert lines[-1].split() == ["median", "-"]


def test_the_table_lists_every_round_then_the_median():
    lines = _rounds((10_000, 3_700), (7_000, 5_000), (9_000, 4_500)).lines()
    assert lines[0].split() == ["round", "bare", "req/s", "intake", "req/s", "intake", "/", "bare"]
    assert [line.split() for line in lines[2:]] == [
        ["1", "10000", "3700", "37.0%"],
        ["2", "7000", "5000", "71.4%"],
        ["3", "9000", "4500", "50.0%"],
        ["median", "50.0%"],
    ]
