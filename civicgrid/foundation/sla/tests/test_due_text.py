"""A clock event's deadline as people read it in a notification."""

from datetime import UTC, datetime

from civicgrid.foundation.sla.services import due_text


def test_due_text_is_local_time_to_the_minute():
    assert due_text("2026-11-30T02:30:00+00:00") == "2026-11-30 10:30"  # Asia/Shanghai
    assert due_text("2026-11-30T10:30:00+08:00") == "2026-11-30 10:30"
    assert due_text(datetime(2026, 11, 30, 2, 30, tzinfo=UTC)) == "2026-11-30 10:30"
    assert due_text(None) == "—" and due_text("") == "—"
    assert due_text("not a date") == "not a date"


def test_deadline_passed_compares_the_events_due_at_with_the_moment_given():
    from civicgrid.foundation.sla.services import deadline_passed

    at = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)
    assert deadline_passed("2026-11-30T10:30:00+08:00", at)  # the deadline itself counts as passed
    assert deadline_passed("2026-11-30T02:29:00+00:00", at)
    assert not deadline_passed("2026-11-30T02:31:00+00:00", at)
    assert not deadline_passed(datetime(2026, 11, 30, 2, 31, tzinfo=UTC), at)
    assert not deadline_passed(None, at) and not deadline_passed("", at) and not deadline_passed("not a date", at)
