"""Working-calendar API and command: read a year, set a day, enter a schedule, set the hours; refused without
`config.manage` (nothing changed); an open clock's deadline follows the change."""

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.api_errors import ErrorOut
from civicgrid.foundation.sla import admin_calendar as cal
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import CalendarDay, CalendarSettings
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
BASE = "/api/v1/calendar"


def test_a_year_reads_with_kinds_sources_and_status(api_client, token_for, tree):
    auth = token_for(user_with(Role.GRID_WORKER, region=tree["140213050001001"]))  # reading needs no capability
    body = api_client.get(f"{BASE}/2024", **auth).json()
    assert body["year"] == 2024 and body["provisional"] is False and len(body["days"]) == 366
    days = {d["date"]: d for d in body["days"]}
    assert days["2024-10-01"] == {"date": "2024-10-01", "is_workday": False, "kind": "holiday", "name": "国庆节",
                                  "source": "statutory"}
    assert days["2024-09-29"]["kind"] == "makeup" and days["2024-11-16"]["kind"] == "weekend"
    assert body["hours"] == [["08:30", "12:00"], ["14:30", "18:00"]]
    later = api_client.get(f"{BASE}/2027", **auth).json()
    assert later["provisional"] is True and later["confirmed"] is False and "2027" in later["message"]
    resp = api_client.get(f"{BASE}/1999", **auth)
    assert resp.status_code == 400 and resp.json()["field"] == "year"
    assert api_client.get(f"{BASE}/2024").status_code == 401


def test_setting_a_day_moves_an_open_deadline(api_client, token_for, calendar_admin, django_capture_on_commit_callbacks):
    c = sla.start_clock(target=("cases.case", "1"), kind="k", limit=("working_days", 2),
                        at=datetime(2027, 2, 4, 10, tzinfo=SH))
    auth = token_for(calendar_admin)
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_client.put(f"{BASE}/days/2027-02-05", {"kind": "holiday", "name": "春节"},
                              content_type="application/json", **auth)
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"changed": 1, "rescheduled": True, "day": {
        "date": "2027-02-05", "is_workday": False, "kind": "holiday", "name": "春节", "source": "override"}}
    c.refresh_from_db()
    assert c.due_at == datetime(2027, 2, 9, 10, tzinfo=SH)
    assert AuditEntry.objects.filter(action="config.changed", actor=calendar_admin).count() == 1
    again = api_client.put(f"{BASE}/days/2027-02-05", {"kind": "holiday", "name": "春节"},
                           content_type="application/json", **auth)
    assert again.json()["changed"] == 0  # already so: no second audit entry, nothing rescheduled
    assert AuditEntry.objects.filter(action="config.changed").count() == 1
    bad = api_client.put(f"{BASE}/days/2400-01-01", {"kind": "holiday"}, content_type="application/json", **auth)
    assert bad.status_code == 400


def test_a_schedule_is_all_or_nothing(api_client, token_for, calendar_admin):
    auth = token_for(calendar_admin)
    bad = api_client.post(f"{BASE}/schedule", {"text": "2027-02-05 2027-02-11 春节\n2027-02-31 调休上班"},
                          content_type="application/json", **auth)
    assert bad.status_code == 400
    # Each line's problem as the published error schema has it (ErrorOut.errors: field and message).
    assert bad.json()["errors"] == [{"field": "text", "message": "第2行：“2027-02-31”不是有效日期，请写成 2027-02-05 / "
                                     "line 2: the line must start with a valid date such as 2027-02-05"}]
    ErrorOut.model_validate(bad.json())
    assert not CalendarDay.objects.exists()
    # A wrong year to confirm undoes the days entered with it.
    bad = api_client.post(f"{BASE}/schedule", {"text": "2027-02-05 春节", "confirm_year": 3000},
                          content_type="application/json", **auth)
    assert bad.status_code == 400 and not CalendarDay.objects.exists()
    ok = api_client.post(f"{BASE}/schedule", {"text": "2027-02-05 2027-02-11 春节\n2027-02-13 调休上班",
                                              "confirm_year": 2027}, content_type="application/json", **auth)
    assert ok.json() == {"changed": 8, "rescheduled": True}
    assert CalendarDay.objects.count() == 8 and CalendarSettings.objects.get().confirmed_years == [2027]


def test_writes_are_refused_without_config_manage(api_client, token_for, tree):
    auth = token_for(user_with(Role.LEADER, region=tree["140213"]))
    calls = [
        api_client.put(f"{BASE}/days/2027-02-05", {"kind": "holiday"}, content_type="application/json", **auth),
        api_client.post(f"{BASE}/schedule", {"text": "2027-02-05 春节"}, content_type="application/json", **auth),
        api_client.put(f"{BASE}/hours", {"hours": [["09:00", "17:00"]]}, content_type="application/json", **auth),
    ]
    assert [r.status_code for r in calls] == [403, 403, 403]
    assert not CalendarDay.objects.exists() and not CalendarSettings.objects.exists()
    assert not AuditEntry.objects.filter(action="config.changed").exists()


def test_hours_through_the_api(api_client, token_for, calendar_admin):
    auth = token_for(calendar_admin)
    ok = api_client.put(f"{BASE}/hours", {"hours": [["09:00", "12:00"], ["13:00", "17:00"]]},
                        content_type="application/json", **auth)
    assert ok.json() == {"hours": [["09:00", "12:00"], ["13:00", "17:00"]], "rescheduled": True}
    bad = api_client.put(f"{BASE}/hours", {"hours": [["09:00"]]}, content_type="application/json", **auth)
    assert bad.status_code == 400
    assert CalendarSettings.objects.get().hours == [["09:00", "12:00"], ["13:00", "17:00"]]


def test_the_command_sets_loads_and_shows(tmp_path):
    out = io.StringIO()
    call_command("working_calendar", "set", "2027-10-01", "--holiday", "国庆节", stdout=out)
    schedule = tmp_path / "2027.txt"
    schedule.write_text("2027-02-05 2027-02-11 春节\n2027-02-13 调休上班\n", encoding="utf-8")
    call_command("working_calendar", "load", str(schedule), "--confirm", "2027", stdout=out)
    assert CalendarDay.objects.count() == 9 and 2027 in cal.confirmed_years()
    schedule.write_text("2027-05-01 劳动节\n2027-05-05 2027-05-01 劳动节\n", encoding="utf-8")
    with pytest.raises(CommandError, match="第2行：结束日期早于开始日期"):
        call_command("working_calendar", "load", str(schedule), stdout=out)
    assert not CalendarDay.objects.filter(date=date(2027, 5, 1)).exists()
    call_command("working_calendar", "show", "2027", stdout=out)
    assert "2027-10-01\t节假日\t国庆节\toverride" in out.getvalue() and "2027-02-13\t调休上班" in out.getvalue()
