"""The words of a call: a line for the screen and pinyin for espeak-ng's voice.

Display: ``请 C012 号 张*三 到 CT1 室检查`` (number-only mode: ``请 C012 号 到 CT1 室检查``).

Voice: espeak-ng's ``cmn`` voice mangles Hanzi here, so the board feeds its
``cmn-latn-pinyin`` voice pinyin with tone numbers (``qing3``; neutral tone ``5``; ü as
``v``), one syllable per word. Choices made for clear reading over a loudspeaker:

* Ticket and room numbers are read digit by digit, as printed (C012 → "C 零 幺 二"), so
  leading zeros are heard and the number matches the paper ticket. The digit 1 is read
  *yāo* (幺), as in Chinese phone and train numbers, so it cannot be confused with 七 *qī*.
* Latin letters are given upper-case and standing alone (``C T``): the voice then says
  the letter's name; a lower-case ``c`` would be taken for a pinyin initial.
* A masked name is read as its surname — with the surname reading from
  :data:`signage.board.surnames.SURNAME_PINYIN` (单 shàn, 尉迟 yùchí …) — then each run
  of hidden characters as 某 *mǒu*, then any shown Han character (张*三 → "zhang1 mou3
  san1"). A disambiguation suffix (``张*(C012)``) is not spoken: the ticket was said.
* A name without Han characters (``ZHANG S*``) is not spoken: the Chinese voice cannot
  read it reliably, and the ticket number identifies the patient. Number-only mode
  never speaks a name.
* Commas between the parts give the voice short pauses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from pypinyin import Style, lazy_pinyin

from shared.masking import MASK, NAME_DOTS
from signage.board.surnames import SURNAME_PINYIN, split_surname

DIGIT_PINYIN: Final = ("ling2", "yao1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3")
"""How the digits 0–9 are read in ticket and room numbers."""

PLACEHOLDER_PINYIN: Final = "mou3"
"""Read for each run of hidden characters of a masked name (某)."""

_SUFFIX_RE: Final = re.compile(r"\([A-Za-z0-9-]*\)$")
_TOKEN_RE: Final = re.compile(r"[\u4e00-\u9fff]+|[0-9]|[A-Za-z]|\*+")


@dataclass(frozen=True)
class SpokenCall:
    """One call's words: ``display`` for the screen, ``pinyin`` for the voice."""

    display: str
    pinyin: str


def call_text(*, ticket: str, masked_name: str, room_label: str, number_only: bool) -> SpokenCall:
    """Return the display line and the voice's pinyin for calling ``ticket`` to a room.

    ``masked_name`` is the already masked name from the call event (may be empty);
    ``number_only`` leaves the name out of both texts.
    """
    name = "" if number_only else _strip_suffix(masked_name.strip())
    room = room_label.strip()
    room_tail = "检查" if room.endswith("室") else " 室检查"
    display_name = f" {name}" if name else ""
    display = f"请 {ticket} 号{display_name} 到 {room}{room_tail}"
    parts = [f"qing3 {text_pinyin(ticket)} hao4"]
    spoken_name = None if number_only else name_pinyin(name)
    if spoken_name:
        parts.append(spoken_name)
    room_end = "jian3 cha2" if room.endswith("室") else "shi4 jian3 cha2"
    parts.append(" ".join(word for word in ("dao4", text_pinyin(room), room_end) if word))
    return SpokenCall(display=display, pinyin=", ".join(parts) + ".")


def text_pinyin(text: str) -> str:
    """Pinyin words for a ticket or room label: Han characters by pypinyin, digits one
    by one (:data:`DIGIT_PINYIN`), Latin letters upper-case and alone; anything else
    (spaces, ``-``, punctuation) is skipped. ``CT1`` → ``C T yao1``."""
    words: list[str] = []
    for token in _TOKEN_RE.findall(text):
        if token.isdigit():
            words.append(DIGIT_PINYIN[int(token)])
        elif token.isascii() and token.isalpha():
            words.append(token.upper())
        elif not token.startswith(MASK):
            words.extend(_han_pinyin(token))
    return " ".join(words)


def name_pinyin(masked_name: str) -> str | None:
    """Pinyin for a masked Han name (张*三 → ``zhang1 mou3 san1``), or None when there is
    nothing the voice should say (empty, all hidden, or no Han characters)."""
    name = _strip_suffix(masked_name.strip())
    for dot in NAME_DOTS:
        name = name.replace(dot, "")
    if not any(_is_han(ch) for ch in name):
        return None
    surname, rest = split_surname(name)
    words = SURNAME_PINYIN.get(surname, "").split() or _han_pinyin(surname)
    for token in _TOKEN_RE.findall(rest):
        if token.startswith(MASK):
            words.append(PLACEHOLDER_PINYIN)
        elif _is_han(token[0]):
            words.extend(_han_pinyin(token))
    return " ".join(words) if words else None


def _han_pinyin(text: str) -> list[str]:
    return [
        word
        for word in lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
        if word.strip()
    ]


def _strip_suffix(name: str) -> str:
    return _SUFFIX_RE.sub("", name)


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"
