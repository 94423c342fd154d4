from services.core.citizen_key import citizen_key

SECRET = b"unit-test-secret"


def test_the_same_person_always_gets_the_same_key():
    a = citizen_key({"nino": "JT483920B", "given_names": "Rhiannon"}, SECRET)
    b = citizen_key({"nino": "jt 48 39 20 b", "given_names": "Someone Else"}, SECRET)
    assert a == b
    assert len(a) == 32


def test_the_key_reveals_nothing_without_the_secret():
    subject = {"nino": "JT483920B"}
    assert citizen_key(subject, SECRET) != citizen_key(subject, b"another-secret")
    assert "JT483920B" not in citizen_key(subject, SECRET)


def test_without_a_nino_names_and_birth_date_identify_the_person():
    a = citizen_key(
        {"given_names": "Siân", "family_name": "Évans", "date_of_birth": "1990-01-02"}, SECRET
    )
    b = citizen_key(
        {"given_names": "sian", "family_name": "EVANS ", "date_of_birth": "1990-01-02"}, SECRET
    )
    c = citizen_key(
        {"given_names": "Sian", "family_name": "Evans", "date_of_birth": "1990-01-03"}, SECRET
    )
    assert a == b
    assert a != c
