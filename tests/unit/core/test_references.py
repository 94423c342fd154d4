from services.core.references import REFERENCE_PATTERN, new_reference, normalise_reference


def test_new_references_are_three_groups_of_unambiguous_characters():
    references = {new_reference() for _ in range(2000)}
    assert len(references) == 2000
    assert all(REFERENCE_PATTERN.match(r) for r in references)
    assert not any(ch in r for r in references for ch in "ILOU")


def test_a_reference_typed_sloppily_is_understood():
    assert normalise_reference("c6f5 eb23 25d4") == "C6F5-EB23-25D4"
    assert normalise_reference("C6F5EB2325D4") == "C6F5-EB23-25D4"
    assert normalise_reference("O6F5-EB23-25DI") == "06F5-EB23-25D1"


def test_text_that_cannot_be_a_reference_is_refused():
    assert normalise_reference("C6F5-EB23") is None
    assert normalise_reference("C6F5-EB23-25D4-0000") is None
    assert normalise_reference("C6F5-EB23-25U4") is None
