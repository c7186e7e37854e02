"""Chinese names: pinyin for search, and the DICOM Person Name sent to modalities."""

from __future__ import annotations

from pypinyin import Style, lazy_pinyin

from shared.masking import COMPOUND_SURNAMES

# Surnames whose reading differs from the character's common reading.
SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "解": "xie",
    "仇": "qiu",
    "区": "ou",
    "查": "zha",
    "曾": "zeng",
    "朴": "piao",
    "尉迟": "yu chi",
    "万俟": "mo qi",
    "盖": "ge",
    "种": "chong",
    "繁": "po",
    "缪": "miao",
    "翟": "zhai",
    "乐": "yue",
    "覃": "qin",
    "员": "yun",
    "藏": "zang",
    "长孙": "zhang sun",
    "令狐": "ling hu",
    "秘": "bi",
}


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name) of a Han name; compound surnames are kept whole."""
    name = name.strip()
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


def _syllables(text: str) -> list[str]:
    return [s for s in lazy_pinyin(text, style=Style.NORMAL, errors="ignore") if s.strip()]


def name_syllables(name: str) -> tuple[list[str], list[str]]:
    """Pinyin syllables of (surname, given name), with surname readings applied."""
    surname, given = split_name(name)
    reading = SURNAME_READINGS.get(surname)
    family = reading.split() if reading else _syllables(surname)
    return family, _syllables(given)


def pinyin_key(name: str) -> tuple[str, str]:
    """(``zhangsan``, ``zs``): lower-case pinyin and initials for prefix search. Names
    without Han characters are lower-cased with spaces and separators removed."""
    if not any("\u4e00" <= ch <= "\u9fff" for ch in name):
        flat = "".join(ch for ch in name.lower() if ch.isalnum())
        return flat, flat[:1]
    family, given = name_syllables(name)
    syllables = family + given
    return "".join(syllables), "".join(s[0] for s in syllables if s)


def dicom_person_name(name: str) -> str:
    """``张三`` → ``Zhang^San=张^三`` (alphabetic group from pinyin, ideographic group from
    the characters). Names without Han characters are returned with ``^`` between
    family and given name when written ``FAMILY GIVEN``."""
    name = name.strip()
    if not any("\u4e00" <= ch <= "\u9fff" for ch in name):
        parts = name.split(None, 1)
        return "^".join(parts)
    surname, given = split_name(name)
    family, given_syl = name_syllables(name)
    alpha = "".join(family).capitalize() + "^" + "".join(given_syl).capitalize()
    return f"{alpha}={surname}^{given}"
