"""Surname readings for the board's voice (the board may not import the hub's table).

Many surnames are read differently from the character's common reading (单 is *shàn* as
a surname, not *dān*). :data:`SURNAME_PINYIN` gives their readings in the tone-number
form espeak-ng's ``cmn-latn-pinyin`` voice reads (``shan4``; syllables separated by a
space). Surnames not listed are read with pypinyin's first reading.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from shared.masking import COMPOUND_SURNAMES

SURNAME_PINYIN: Final = MappingProxyType(
    {
        "单": "shan4",
        "解": "xie4",
        "仇": "qiu2",
        "区": "ou1",
        "查": "zha1",
        "曾": "zeng1",
        "朴": "piao2",
        "盖": "ge3",
        "缪": "miao4",
        "覃": "qin2",
        "种": "chong2",
        "秘": "bi4",
        "繁": "po2",
        "员": "yun4",
        "句": "gou1",
        "华": "hua4",
        "任": "ren2",
        "纪": "ji3",
        "翟": "zhai2",
        "费": "fei4",
        "沈": "shen3",
        "冼": "xian3",
        "洗": "xian3",
        "宿": "su4",
        "隗": "wei3",
        "郇": "huan2",
        "乐": "yue4",
        "尉迟": "yu4 chi2",
        "万俟": "mo4 qi2",
        "单于": "chan2 yu2",
        "长孙": "zhang3 sun1",
        "澹台": "tan2 tai2",
        "令狐": "ling2 hu2",
        "亓官": "qi2 guan1",
        "乐正": "yue4 zheng4",
    }
)
"""Surname → tone-number pinyin, for surnames read unlike the character's common reading."""


def split_surname(name: str) -> tuple[str, str]:
    """Return ``(surname, rest)`` of a Han name, masked or not (张*三 → 张, *三).

    A two-character surname (in :data:`SURNAME_PINYIN` or
    :data:`shared.masking.COMPOUND_SURNAMES`) is kept whole when something follows it.
    """
    head = name[:2]
    if len(name) > 2 and (head in COMPOUND_SURNAMES or head in SURNAME_PINYIN):
        return head, name[2:]
    return name[:1], name[1:]
