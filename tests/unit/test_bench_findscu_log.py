"""The worklist benchmark times each C-FIND of ``findscu --repeat`` from findscu's log."""

from __future__ import annotations

import pytest

from bench.worklist import query_times

LOG = """\
08:25:43.530.751 Requesting Association
08:25:43.538.600 Association Accepted (Max Send PDV: 131060)
08:25:43.542.783 Sending Find Request (MsgID 1)
08:25:43.542.927 Request Identifiers:
08:25:43.542.927 (0008,0005) CS [ISO_IR 192]
08:25:43.562.078 Received Find Response 1 (Pending)
08:25:43.562.173 Received Find Response 2 (Pending)
08:25:43.562.611 Received Final Find Response (Success)
08:25:43.562.619 Sending Find Request (MsgID 2)
08:25:43.570.142 Received Find Response 3 (Pending)
08:25:43.570.508 Received Find Response 4 (Pending)
08:25:43.571.000 Received Final Find Response (Success)
23:59:59.999.000 Sending Find Request (MsgID 3)
00:00:00.001.500 Received Final Find Response (Success)
00:00:00.002.000 Releasing Association
"""


def test_each_query_is_timed_from_request_to_final_response() -> None:
    times, matches = query_times(LOG)
    assert times == pytest.approx([19.828, 8.381, 2.5])
    assert matches == [2, 2, 0]


def test_a_query_without_final_response_is_not_counted() -> None:
    times, matches = query_times(LOG.split("00:00:00.001.500")[0])
    assert len(times) == len(matches) == 2
