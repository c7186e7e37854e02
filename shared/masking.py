"""Patient-name masking for screens, tickets and voice.

Full names never leave the edge gateway on the broker: every name a waiting room can
see or hear goes through :func:`mask_name` first. The rule (one rule, everywhere):

* Han names keep the surname and hide the given name: a one-character given name becomes
  ``*`` (张三 → 张*), a longer one shows only its last character (张三丰 → 张*丰,
  张三四五 → 张**五). Compound surnames (复姓) from :data:`COMPOUND_SURNAMES` are kept
  whole (欧阳娜娜 → 欧阳*娜); a two-character name that *is* a compound surname has no
  given name to hide and becomes 欧*.
* Names with a middle dot (·, ・, . …), as written for Uyghur, Kazakh and other names,
  keep their first segment and hide every other character (麦麦提·赛帕克 → 麦麦提·***).
* Names without Han characters (pinyin, Latin) keep the family name and reduce the given
  name to its first letter (``ZHANG^SAN FENG`` → ``ZHANG S*``); a single word shows only its
  first letter (``ZHANGSANFENG`` → ``Z*``).
* DICOM Person Name values are accepted (``张^三丰``, ``ZHANG^SANFENG=张^三丰``): the
  ideographic group is used when present, else the alphabetic one.
* Empty or blank names become ``*``.

Every masked name contains at least one ``*``; :func:`is_masked` checks that property and
the MQTT payload models use it to refuse a full name.

:func:`disambiguate` labels the patients on one screen so that two people whose masks
collide (two 张*) can still be told apart, by appending their ticket numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

MASK: Final = "*"
"""The character that stands for a hidden character."""

COMPOUND_SURNAMES: Final[frozenset[str]] = frozenset(
    {
        "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐",
        "长孙", "宇文", "司徒", "司空", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门",
        "澹台", "呼延", "申屠", "太史", "闻人", "万俟", "单于", "赫连", "钟离", "百里",
        "东郭", "公冶", "濮阳", "淳于", "拓跋", "第五", "仲孙", "叔孙", "公羊", "谷梁",
        "乐正", "漆雕", "壤驷", "公良", "梁丘", "左丘", "东门", "羊舌", "微生", "宗政",
        "公西", "巫马", "亓官", "司寇", "子车", "颛孙", "鲜于", "闾丘", "段干", "呼衍",
        "完颜", "耶律", "贺兰", "纳兰", "欧侯", "东里", "南门",
    }
)  # fmt: skip
"""Two-character Chinese surnames (复姓) recognised at the start of a name."""

NAME_DOTS: Final[frozenset[str]] = frozenset("·・.•‧･．")
"""Separators written between the parts of transliterated names (麦麦提·赛帕克)."""

_PN_GROUP_SEP: Final = "="
_PN_COMPONENT_SEP: Final = "^"


def mask_name(name: str) -> str:
    """Return the masked form of ``name`` for display or voice.

    ``name`` may be plain text (张三丰, ``Zhang Sanfeng``) or a DICOM Person Name value
    (``张^三丰``, ``ZHANG^SANFENG=张^三丰``). The result always contains at least one
    ``*`` (so :func:`is_masked` accepts it); blank input gives ``*``. Never raises.
    """
    family, given = _pick_components(name)
    text = family + given
    if not text:
        return MASK
    if any(_is_han(ch) for ch in text):
        return _mask_han(family, given)
    return _mask_latin(family, given)


def is_masked(label: str) -> bool:
    """Return True when ``label`` may be shown on a shared screen as a patient's name.

    A label that shows any letter (Han or Latin) must hide at least one with ``*``, so a
    full name such as 张三 or ``ZHANG SAN`` is refused while 张*, 张*(C012), ``ZHANG S*``
    and ``*`` pass. An empty label (name withheld, "number only" mode) passes too.
    """
    return MASK in label or not any(ch.isalpha() for ch in label)


def disambiguate(entries: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Label the patients currently shown or waiting so they can be told apart.

    ``entries`` are ``(ticket, full_name)`` pairs. Returns ``ticket → label`` where the
    label is ``mask_name(full_name)``; when two or more entries share a mask, each of
    them gets its ticket appended (``张*(C012)``, ``张*(C015)``). Labels of entries
    whose masks are unique are the bare masks.

    Raises ValueError if a ticket appears more than once in ``entries``.
    """
    tickets = Counter(ticket for ticket, _ in entries)
    repeated = sorted(ticket for ticket, count in tickets.items() if count > 1)
    if repeated:
        raise ValueError(
            f"ticket(s) {', '.join(repeated)} appear more than once; "
            "each waiting patient must hold a distinct ticket"
        )
    masks = {ticket: mask_name(full_name) for ticket, full_name in entries}
    uses = Counter(masks.values())
    return {
        ticket: f"{mask}({ticket})" if uses[mask] > 1 else mask for ticket, mask in masks.items()
    }


def _pick_components(name: str) -> tuple[str, str]:
    """Split ``name`` into (family, given) text, stripped of whitespace at both ends.

    A DICOM PN value contributes its ideographic group when present, else its
    alphabetic (else phonetic) group; of that group, component 1 is the family name and
    component 2 the given name (middle name, prefix and suffix are dropped). Plain text
    is returned whole as the family part, with an empty given part.
    """
    text = name.strip()
    if _PN_GROUP_SEP not in text and _PN_COMPONENT_SEP not in text:
        return text, ""
    groups = [g.strip() for g in text.split(_PN_GROUP_SEP)]
    alphabetic = groups[0]
    ideographic = groups[1] if len(groups) > 1 else ""
    phonetic = groups[2] if len(groups) > 2 else ""
    chosen = next(
        (g for g in (ideographic, alphabetic, phonetic) if g.strip(_PN_COMPONENT_SEP)), ""
    )
    components = [c.strip() for c in chosen.split(_PN_COMPONENT_SEP)] + ["", ""]
    return components[0], components[1]


def _mask_han(family: str, given: str) -> str:
    """Mask a name containing Han characters (see the module rules)."""
    dots = "".join(NAME_DOTS)
    family = "".join(family.split()).strip(dots)
    given = "".join(given.split()).strip(dots)
    if given and (len(family) == 1 or family in COMPOUND_SURNAMES) and not _has_dot(given):
        return family + _mask_given(given)
    text = (family + given).strip(dots)
    if _has_dot(text):
        return _mask_dotted(text)
    if len(text) == 2 and text in COMPOUND_SURNAMES:
        return text[0] + MASK
    surname_len = 2 if len(text) > 2 and text[:2] in COMPOUND_SURNAMES else 1
    return text[:surname_len] + _mask_given(text[surname_len:])


def _mask_given(given: str) -> str:
    """Hide a given name: one character → ``*``; more → all but the last become ``*``."""
    if len(given) <= 1:
        return MASK
    return MASK * (len(given) - 1) + given[-1]


def _has_dot(text: str) -> bool:
    """Return True when ``text`` has a name dot between two non-dot characters."""
    return any(ch in NAME_DOTS for ch in text.strip("".join(NAME_DOTS)))


def _mask_dotted(text: str) -> str:
    """Keep the first dot-separated segment; replace every later non-dot character."""
    text = text.strip("".join(NAME_DOTS))
    first_dot = next(i for i, ch in enumerate(text) if ch in NAME_DOTS)
    rest = "".join(ch if ch in NAME_DOTS else MASK for ch in text[first_dot:])
    return text[:first_dot] + rest


def _mask_latin(family: str, given: str) -> str:
    """Mask a name without Han characters: family name kept, given name → initial + ``*``.

    Plain text is split on whitespace, its first word taken as the family name. A name of
    one word (possibly a whole name run together) keeps only its first letter.
    """
    if not given:
        words = family.split()
        family, given = (words[0], " ".join(words[1:])) if words else ("", "")
        if not given:
            return family[:1] + MASK
    if not family:
        return given[:1] + MASK
    return f"{family} {given[:1]}{MASK}"


def _is_han(ch: str) -> bool:
    """Return True for a CJK unified or compatibility ideograph."""
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x323AF
    )
