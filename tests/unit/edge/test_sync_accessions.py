"""Which accession numbers an edge reports to the hub as its high-water marks (real
SQLite index; no hub needed), and a report that cannot be delivered."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from edge_gateway.store.worklist import StepIn, add_step
from edge_gateway.sync.accessions import AccessionReporter, high_water_marks, read_marks
from edge_gateway.sync.client import HubClient
from edge_gateway.sync.orders import apply_page
from shared.dicom.uid import UidFactory
from shared.sync import MAX_ACCESSION_MARKS, AccessionMark, OrderFeed, WorklistOrder
from tests.support.net import free_port

TODAY = date(2026, 11, 26)
SINCE = date(2026, 11, 19)


def hub_order(accession: str, seq: int, **kw: Any) -> WorklistOrder:
    values: dict[str, Any] = {
        "accession": accession,
        "campus": "dongge",
        "status": "scheduled",
        "patient_id": f"H{seq:06d}",
        "patient_name": "Zhang^San=张^三",
        "modality": "CT",
        "procedure_code": "CT-CHEST",
        "procedure_name": "胸部CT平扫",
        "category": "outpatient",
        "study_uid": f"1.2.826.0.1.3680043.8.498.{seq}",
        "scheduled_at": datetime(2026, 11, 26, 2, 0, tzinfo=UTC),
        "change_seq": seq,
    }
    values.update(kw)
    return WorklistOrder(**values)


def on_worklist(engine: Engine, *orders: WorklistOrder) -> None:
    page = OrderFeed(orders=list(orders), cursor=max(o.change_seq for o in orders), more=False)
    apply_page(engine, page, campus="dongge")


def marks(*pairs: tuple[date, str]) -> list[AccessionMark]:
    return [AccessionMark(day=day, accession=accession) for day, accession in pairs]


def test_the_highest_number_per_day_by_its_sequence() -> None:
    got = high_water_marks(
        ["DG2611260009", "DG2611260057", "DG26112610000", "DG2611250100", "DG2611259999"],
        prefix="DG",
        since=SINCE,
    )
    # 10000 (five digits) is above 9999 and 0057; days oldest first
    assert got == marks((date(2026, 11, 25), "DG2611259999"), (TODAY, "DG26112610000"))


@pytest.mark.parametrize(
    "ignored",
    [
        "XH2611260999",  # the other campus
        "DG2611180999",  # a day before the look-back
        "DG2613260999",  # no month 13
        "DG2602300999",  # no 30 February
        "DG26112699",  # fewer than four digits
        "dg2611260999",  # not the hub's capitals
        "DG20261126099",  # the demo's YYYYMMDD form: month 26 of 2020
        "DG2611260999X",
        "T1A2B3C4D5E",  # a test's or a local number
        "",
    ],
)
def test_numbers_that_do_not_count(ignored: str) -> None:
    got = high_water_marks(["DG2611260001", ignored], prefix="DG", since=SINCE)
    assert got == marks((TODAY, "DG2611260001"))


def test_the_look_back_starts_at_since_and_later_days_count() -> None:
    got = high_water_marks(
        ["DG2611190004", "DG2611180005", "DG2611270002", "DG2612030001"], prefix="DG", since=SINCE
    )
    assert got == marks(
        (SINCE, "DG2611190004"),
        (date(2026, 11, 27), "DG2611270002"),
        (date(2026, 12, 3), "DG2612030001"),
    )


def test_at_most_the_newest_days_the_hub_takes() -> None:
    numbers = [f"DG{date.fromordinal(SINCE.toordinal() + i):%y%m%d}0001" for i in range(150)]
    got = high_water_marks(numbers, prefix="DG", since=SINCE)
    assert len(got) == MAX_ACCESSION_MARKS
    assert (
        got[-1].accession == numbers[-1] and got[0].accession == numbers[150 - MAX_ACCESSION_MARKS]
    )


def test_read_marks_counts_the_hub_steps_of_this_campus_by_the_day_in_the_number(
    engine: Engine,
) -> None:
    on_worklist(
        engine,
        hub_order("DG2611260012", 1),
        hub_order("DG2611260031", 2, status="cancelled"),  # off the worklist, still issued
        # booked for next week, registered today: counts for today, not for its slot's day
        hub_order("DG2611260040", 3, scheduled_at=datetime(2026, 12, 3, 1, 0, tzinfo=UTC)),
        hub_order("DG2611240007", 4),
        hub_order("DG2611100099", 5),  # before the look-back
    )
    # a step added at the edge by hand is not the hub's number, whatever it looks like
    add_step(
        engine,
        StepIn(
            patient_id="L1",
            patient_name="Li^Si",
            modality="CT",
            accession="DG2611260500",
            scheduled=datetime(2026, 11, 26, 3, 0, tzinfo=UTC),
        ),
        UidFactory(),
    )
    with engine.connect() as conn:
        got = read_marks(conn, campus="dongge", today=TODAY)
        assert got == marks((date(2026, 11, 24), "DG2611240007"), (TODAY, "DG2611260040"))
        assert read_marks(conn, campus="xianhu", today=TODAY) == []
        assert read_marks(conn, campus="dongge", today=TODAY, lookback_days=0) == marks(
            (TODAY, "DG2611260040")
        )


def test_a_report_the_hub_does_not_take_stays_due(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_gateway.sync.accessions")
    on_worklist(engine, hub_order("DG2611260012", 1))
    token = tmp_path / "token"
    token.write_text("pacsdev_x\n", encoding="utf-8")
    client = HubClient(f"http://127.0.0.1:{free_port()}", token, timeout=5)  # nothing listens
    reporter = AccessionReporter(engine, client, campus="dongge")
    try:
        assert reporter.report_if_due() is False
        assert reporter.report_if_due() is False  # tried again at the next round
    finally:
        client.close()
    failures = [  # this thread's: an agent another test left running would log too
        r
        for r in caplog.records
        if "cannot report" in r.getMessage() and r.thread == threading.get_ident()
    ]
    assert [r.levelno for r in failures] == [logging.WARNING, logging.DEBUG]
