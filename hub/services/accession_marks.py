"""An edge's report of the highest accession numbers it holds (after a hub restore):
each is checked against the edge's campus and day, then the hub's counter is raised to
it (``hub.services.accession.raise_counter``). A raise is logged and audited: it is the
sign that the hub had gone back in time and would have handed those numbers out again.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from hub.models.people import Device
from hub.services import audit
from hub.services.accession import raise_counter
from hub.services.campuses import campus_name
from hub.services.errors import Invalid
from shared.accession import accession_prefix, parse_accession
from shared.sync import AccessionMark, AccessionReport, AccessionReportResult, RaisedCounter

log = logging.getLogger(__name__)


def check_mark(mark: AccessionMark, campus: str) -> int:
    """The sequence of ``mark.accession``; ``Invalid`` (400) with a sentence when it is
    not a number of ``campus`` for ``mark.day``."""
    prefix = accession_prefix(campus)
    parsed = parse_accession(mark.accession)
    if parsed is None:
        raise Invalid(
            f"检查号 {mark.accession!r} 格式不对，应为 {prefix} + 年月日(YYMMDD) + 序号 / "
            f"accession {mark.accession!r} is not in the hub's format "
            f"({prefix} + YYMMDD + a sequence of at least 4 digits)"
        )
    if parsed.prefix != prefix:
        raise Invalid(
            f"检查号 {mark.accession} 不属于{campus_name(campus)}院区（应以 {prefix} 开头）/ "
            f"accession {mark.accession} is not of campus {campus}, whose numbers start "
            f"with {prefix}: an edge reports only its own campus's numbers"
        )
    if parsed.day != mark.day:
        raise Invalid(
            f"检查号 {mark.accession} 的日期是 {parsed.day}，不是 {mark.day} / "
            f"accession {mark.accession} is of {parsed.day}, not of the day {mark.day} "
            "it was reported for"
        )
    return parsed.sequence


def take_accession_marks(
    *, session: Session, device: Device, report: AccessionReport
) -> AccessionReportResult:
    """Check every mark (``Invalid`` for the first wrong one: nothing is raised), then
    raise each counter of the device's campus to at least its mark, in the session's
    transaction (the caller commits). Returns the counters that were behind."""
    campus = device.campus
    highest: dict[str, tuple[AccessionMark, int]] = {}
    for mark in report.marks:
        sequence = check_mark(mark, campus)
        key = mark.day.isoformat()
        if key not in highest or sequence > highest[key][1]:
            highest[key] = (mark, sequence)
    actor = audit.Actor(name=device.device_id, role=f"device:{device.kind}")
    raised: list[RaisedCounter] = []
    for key in sorted(highest):
        mark, sequence = highest[key]
        previous = raise_counter(session=session, campus=campus, day=mark.day, last=sequence)
        if previous is None:
            continue
        raised.append(RaisedCounter(day=mark.day, previous=previous, last=sequence))
        audit.record(
            session,
            actor,
            action="raise",
            resource="accession_counter",
            resource_id=f"{campus}/{key}",
            detail={"from": previous, "to": sequence, "accession": mark.accession},
        )
        log.warning(
            "accession counter raised: campus %s, day %s, from %d to %d (%s holds %s); "
            "the hub had counted less than it handed out, as after a restore from a backup",
            campus,
            key,
            previous,
            sequence,
            device.device_id,
            mark.accession,
        )
    return AccessionReportResult(raised=raised)
