"""The index metadata of a received DICOM file, read from its header only.

Reading stops after (0020,0013) Instance Number, before any bulk data, and keeps only
the attributes the archive index needs; text is decoded with the file's Specific
Character Set (UTF-8 is assumed for undeclared non-ASCII text that is valid UTF-8) and
kept as written; a UID is accepted when it is safe as a path part.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag, Tag

from shared.dicom.charset import apply_default_charset, guess_charset
from shared.dicom.instance import (
    INDEX_KEYWORDS,
    LAST_INDEX_TAG,
    InstanceMeta,
    InstanceUIDError,
    instance_meta,
)
from shared.durable import is_safe_uid


class UnreadablePart(ValueError):
    """The part is not a DICOM object the hub can index; the message says why."""


_WANTED: list[BaseTag | int] = [Tag(k) for k in INDEX_KEYWORDS]
_UIDS_AS_NAMED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def _past_header(tag: BaseTag, vr: str | None, length: int) -> bool:
    """Every attribute the index keeps comes before (0020,0013)'s successors."""
    return bool(tag > LAST_INDEX_TAG)


def read_meta(path: Path) -> InstanceMeta:
    """The index metadata from a Part 10 file's header (read up to Instance Number
    only). Raises :class:`UnreadablePart` for anything but a readable object with
    valid UIDs."""
    try:
        with path.open("rb") as fh:
            ds = read_partial(fh, stop_when=_past_header, force=True, specific_tags=_WANTED)
        meta = getattr(ds, "file_meta", None)
        transfer_syntax = str(meta.get("TransferSyntaxUID", "") or "") if meta else ""
        if not transfer_syntax:
            raise UnreadablePart("not a DICOM Part 10 object (no Transfer Syntax UID)")
        apply_default_charset(ds, guess_charset(ds, None))
        return _meta_of(ds, transfer_syntax)
    except UnreadablePart:
        raise
    except Exception as exc:  # pydicom raises many kinds on garbage
        raise UnreadablePart(f"cannot read DICOM header: {type(exc).__name__}: {exc}") from exc


def _meta_of(ds: Dataset, transfer_syntax: str) -> InstanceMeta:
    """Text as written; all missing UIDs named, else all invalid ones."""
    try:
        return instance_meta(ds, transfer_syntax, as_written=True, uid_ok=is_safe_uid)
    except InstanceUIDError as exc:
        problems = {keyword for keyword, _ in exc.problems}
        missing = [k for k in _UIDS_AS_NAMED if k in exc.missing]
        if missing:
            raise UnreadablePart(f"missing {', '.join(missing)}") from exc
        bad = [k for k in _UIDS_AS_NAMED if k in problems]
        raise UnreadablePart(f"invalid UID in {', '.join(bad)}") from exc
