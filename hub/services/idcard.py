"""The 18-character resident identity-card number (居民身份证号码, GB 11643-1999).

Layout: 6-digit region code, 8-digit birth date (YYYYMMDD), 3-digit sequence (odd for
men, even for women), and a check character computed with ISO 7064 MOD 11-2 (``0``-``9``
or ``X``). The hub never stores the number: callers keep a keyed hash and the last four
characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")
_PROVINCES = frozenset(
    {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
        "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
        "63", "64", "65", "71", "81", "82", "83", "91",
    }
)  # fmt: skip
"""Province-level codes; 83 (Taiwan residents' permits), 81/82 (Hong Kong/Macao) included."""


class IdCardError(ValueError):
    """The number is not a valid identity-card number; the message says why."""


@dataclass(frozen=True)
class IdCard:
    """A checked identity-card number and what it tells."""

    number: str
    birth_date: date
    sex: str
    """``M`` or ``F`` (from the parity of the 17th digit)."""

    @property
    def last4(self) -> str:
        return self.number[-4:]


def check_digit(first17: str) -> str:
    """The check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def normalise(raw: str) -> str:
    """Upper-case, without spaces (people type ``x`` and group digits)."""
    return re.sub(r"\s+", "", raw).upper()


def parse_id_card(raw: str, *, today: date | None = None) -> IdCard:
    """Check ``raw`` and return the card; raise ``IdCardError`` with a sentence naming
    the fault (length, characters, region, birth date, check character)."""
    number = normalise(raw)
    if len(number) != 18:
        raise IdCardError(
            f"身份证号应为18位，当前为{len(number)}位，请核对 / "
            f"an identity-card number has 18 characters, this one has {len(number)}"
        )
    if not _SHAPE.match(number):
        raise IdCardError(
            "身份证号只能是17位数字加一位数字或X，请核对 / "
            "an identity-card number is 17 digits and a digit or X"
        )
    if number[:2] not in _PROVINCES:
        raise IdCardError(
            "身份证号的地区码无效，请核对 / the region code of the identity-card number is invalid"
        )
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        born = None
    today = today or date.today()
    if born is None or born > today or born.year < 1880:
        raise IdCardError(
            "身份证号中的出生日期无效，请核对 / "
            "the birth date inside the identity-card number is invalid"
        )
    expected = check_digit(number[:17])
    if number[17] != expected:
        raise IdCardError(
            "身份证号校验位不正确，请核对是否输错 / "
            "the check character of the identity-card number is wrong: was it mistyped?"
        )
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return IdCard(number=number, birth_date=born, sex=sex)
