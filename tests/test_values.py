"""Scalars read from text."""

from ftunlearn.values import parse_scalar


def test_numbers_become_numbers_and_the_rest_stays_text():
    assert parse_scalar(" 3 ") == 3 and isinstance(parse_scalar("3"), int)
    assert parse_scalar("0.5") == 0.5 and parse_scalar("1e-4") == 1e-4
    assert parse_scalar(" relu ") == "relu"
