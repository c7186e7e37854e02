"""The 18-character identity-card number: check character, birth date, region, sex."""

from __future__ import annotations

from datetime import date

import pytest

from hub.services.idcard import IdCardError, check_digit, parse_id_card

# The worked example of GB 11643-1999; the check characters below were computed by hand
# (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; remainder 0..10 → 1 0 X 9 8 7 6 5 4 3 2).
STANDARD_EXAMPLE = "11010519491231002X"


def test_standard_example_is_valid() -> None:
    card = parse_id_card(STANDARD_EXAMPLE)
    assert card.number == STANDARD_EXAMPLE
    assert card.birth_date == date(1949, 12, 31)
    assert card.sex == "F"  # 17th digit 2: even
    assert card.last4 == "002X"


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("11010519491231002", "X"),  # sum 167, remainder 2
        ("45010319800101001", "1"),  # sum 165, remainder 0
        ("44030419900307123", "X"),  # sum 244, remainder 2
        ("45010319850612341", "7"),  # sum 280, remainder 5
    ],
)
def test_check_digit(first17: str, check: str) -> None:
    assert check_digit(first17) == check


def test_lower_case_x_and_spaces_are_accepted() -> None:
    card = parse_id_card(" 110105 19491231 002x ")
    assert card.number == STANDARD_EXAMPLE


def test_odd_sequence_is_a_man() -> None:
    first17 = "45010319850612341"
    card = parse_id_card(first17 + check_digit(first17))
    assert card.sex == "M" and card.birth_date == date(1985, 6, 12)


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("11010519491231002", "18位"),
        ("11010519491231002X1", "18位"),
        ("1101051949123100AX", "17位数字"),
        ("01010519491231002X", "17位数字"),  # a leading zero is no region
        ("110105194912310021", "校验位"),
        ("110105194902300026", "出生日期"),  # 30 February
        ("990105194912310021", "地区码"),
    ],
)
def test_invalid_numbers_say_why(number: str, words: str) -> None:
    with pytest.raises(IdCardError) as caught:
        parse_id_card(number)
    assert words in str(caught.value)
    assert "/" in str(caught.value)  # Chinese, then English


def test_birth_date_in_the_future_is_refused() -> None:
    first17 = "45010320300101001"
    with pytest.raises(IdCardError, match="出生日期"):
        parse_id_card(first17 + check_digit(first17), today=date(2026, 11, 25))
    assert parse_id_card(first17 + check_digit(first17), today=date(2030, 1, 1)).sex == "M"
