"""A clock event's deadline as people read it in a notification."""

from datetime import UTC, datetime

from civicgrid.foundation.sla.services import due_text


def test_due_text_is_local_time_to_the_minute():
    assert due_text("2026-11-30T02:30:00+00:00") == "2026-11-30 10:30"  # Asia/Shanghai
    assert due_text("2026-11-30T10:30:00+08:00") == "2026-11-30 10:30"
    assert due_text(datetime(2026, 11, 30, 2, 30, tzinfo=UTC)) == "2026-11-30 10:30"
    assert due_text(None) == "—" and due_text("") == "—"
    assert due_text("not a date") == "not a date"
