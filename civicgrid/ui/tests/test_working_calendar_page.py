"""工作日历: the system administrator sees a year (statutory, provisional or confirmed), sets a day, enters a
year's holiday schedule as text (all lines or none) and the working hours; open clocks move with the calendar.
Anyone without `config.manage` is refused and changes nothing."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import CalendarDay, CalendarSettings
from civicgrid.testing.builders import user_with

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_calendar")]

URL = "/calendar/"
SH = ZoneInfo("Asia/Shanghai")
# 2027 lies beyond chinese_calendar's table (it ends with 2026): Monday–Friday until entered.
SCHEDULE = "# 2027 春节\n2027-02-05 至 2027-02-11 春节\n\n2027-02-13 调休上班\n"


def _clock():
    """Thursday 2027-02-04 10:00 + 2 working days: Monday 2027-02-08 10:00 on a Monday–Friday calendar."""
    c = sla.start_clock(target=("cases.case", "1"), kind="handle", limit=("working_days", 2),
                        at=datetime(2027, 2, 4, 10, tzinfo=SH))
    assert c.due_at == datetime(2027, 2, 8, 10, tzinfo=SH)
    return c


def _english(client):
    client.post(reverse("set_language"), {"language": "en", "next": URL})


def test_the_administrator_sees_a_statutory_year_in_chinese(client_for, calendar_admin):
    assert reverse("ui:working_calendar") == URL
    html = client_for(calendar_admin).get(URL, {"year": 2024}).content.decode()
    assert 'data-nav="working_calendar"' in html and "工作日历 2024" in html
    assert 'data-calendar-status="statutory"' in html
    assert 'data-date="2024-10-01" data-kind="holiday"' in html  # 国庆节 on a Tuesday
    assert 'data-date="2024-09-29" data-kind="makeup"' in html  # a Sunday make-up working day
    assert 'data-date="2024-10-12" data-kind="makeup"' in html
    assert 'data-date="2024-11-16" data-kind="weekend"' in html
    assert "国庆节" in html and "二月" in html and "08:30–12:00" in html
    assert 'href="?year=2023"' in html and 'href="?year=2025"' in html  # switching years


def test_a_year_beyond_the_statutory_table_is_provisional_in_either_language(client_for, calendar_admin):
    c = client_for(calendar_admin)
    html = c.get(URL, {"year": 2027}).content.decode()
    assert 'data-calendar-status="provisional"' in html
    assert "2027年的法定节假日尚未公布或录入" in html and "working days are provisional" not in html
    assert 'data-date="2027-02-08" data-kind="workday"' in html
    _english(c)
    html = c.get(URL, {"year": 2027}).content.decode()
    assert 'lang="en"' in html and "February" in html and "Mon" in html
    assert "The 2027 holiday table is not yet known" in html and "尚未公布" not in html


def test_a_year_out_of_range_is_answered_clearly(client_for, calendar_admin):
    c = client_for(calendar_admin)
    resp = c.get(URL, {"year": 1999})
    assert resp.status_code == 400 and "年份须在" in resp.content.decode()
    _english(c)
    resp = c.get(URL, {"year": "abc"})
    assert resp.status_code == 400 and "not a year" in resp.content.decode()


def test_a_bulk_schedule_is_entered_audited_and_moves_an_open_deadline(
    client_for, calendar_admin, django_capture_on_commit_callbacks
):
    clock = _clock()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resp = client_for(calendar_admin).post(reverse("ui:working_calendar_schedule"),
                                      {"year": "2027", "text": SCHEDULE, "confirm": "1"}, follow=True)
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "已录入 8 天的节假日安排" in html and "未结束的时限将按新日历重新计算截止时间" in html
    assert 'data-calendar-status="confirmed"' in html
    assert 'data-date="2027-02-08" data-kind="holiday"' in html and 'data-date="2027-02-13" data-kind="makeup"' in html
    assert len(callbacks) == 1  # one rescheduling for the whole schedule
    days = dict(CalendarDay.objects.values_list("date", "is_workday"))
    assert len(days) == 8 and sum(days.values()) == 1
    assert CalendarDay.objects.get(date="2027-02-05").name == "春节"
    assert AuditEntry.objects.filter(action="config.changed", data__setting="calendar_day").count() == 8
    assert 2027 in CalendarSettings.objects.get().confirmed_years
    # Thursday 10:00–18:00 (5.5 h), the holiday week off, Friday 12th (7 h), make-up Saturday 13th 08:30 + 1.5 h.
    clock.refresh_from_db()
    assert clock.due_at == datetime(2027, 2, 13, 10, tzinfo=SH)


def test_a_bulk_schedule_with_one_bad_line_changes_nothing(client_for, calendar_admin, django_capture_on_commit_callbacks):
    clock = _clock()
    text = SCHEDULE + "2027-02-30 元宵节\n2027-02-10 春节\n2027-05-05 2027-05-01 劳动节\n2200-01-01 元旦\n"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resp = client_for(calendar_admin).post(reverse("ui:working_calendar_schedule"), {"year": "2027", "text": text})
    assert resp.status_code == 400
    html = resp.content.decode()
    assert "有 4 行无法录入，未作任何修改" in html
    assert "第5行：“2027-02-30”不是有效日期" in html  # an impossible date
    assert "第6行：2027-02-10 已在第2行设置过" in html  # overlapping lines
    assert "第7行：结束日期早于开始日期" in html
    assert "第8行：2200年不在可设置的范围" in html
    assert "2027-05-05 2027-05-01 劳动节" in html  # the text stays in the form, to be corrected
    assert callbacks == []
    assert not CalendarDay.objects.exists()
    assert not AuditEntry.objects.filter(action="config.changed").exists()
    clock.refresh_from_db()
    assert clock.due_at == datetime(2027, 2, 8, 10, tzinfo=SH)


def test_bulk_errors_read_in_english_in_the_english_interface(client_for, calendar_admin):
    c = client_for(calendar_admin)
    _english(c)
    resp = c.post(reverse("ui:working_calendar_schedule"), {"year": "2027", "text": "2027-02-10 调休\n2027-02-11\n"})
    html = resp.content.decode()
    assert resp.status_code == 400
    assert "2 line(s) could not be read: nothing was changed" in html and "无法录入" not in html
    assert "line 1: a bare swap is ambiguous" in html and "line 2: a holiday name, or workday" in html
    assert not CalendarDay.objects.exists()


def test_one_day_is_set_and_put_back_to_the_default(client_for, calendar_admin, django_capture_on_commit_callbacks):
    clock = _clock()
    c = client_for(calendar_admin)
    with django_capture_on_commit_callbacks(execute=True):
        resp = c.post(reverse("ui:working_calendar_day"),
                      {"date": "2027-02-05", "kind": "holiday", "name": "春节"}, follow=True)
    html = resp.content.decode()
    assert "2027-02-05 已保存" in html and "重新计算截止时间" in html
    assert 'data-date="2027-02-05" data-kind="holiday" data-source="override"' in html
    clock.refresh_from_db()
    assert clock.due_at == datetime(2027, 2, 9, 10, tzinfo=SH)  # Friday off: one working day later
    with django_capture_on_commit_callbacks(execute=True):
        c.post(reverse("ui:working_calendar_day"), {"date": "2027-02-05", "kind": "default"})
    assert not CalendarDay.objects.exists()
    clock.refresh_from_db()
    assert clock.due_at == datetime(2027, 2, 8, 10, tzinfo=SH)
    # A bad date or kind is refused with a message, nothing changed.
    html = c.post(reverse("ui:working_calendar_day"), {"date": "2027-13-01", "kind": "holiday"}, follow=True)
    assert "请填写有效日期" in html.content.decode()
    _english(c)
    html = c.post(reverse("ui:working_calendar_day"), {"date": "2027-02-05", "kind": "x"}, follow=True)
    assert "choose what the day is" in html.content.decode()
    assert not CalendarDay.objects.exists()


def test_working_hours_are_set_from_the_page(client_for, calendar_admin):
    c = client_for(calendar_admin)
    html = c.post(reverse("ui:working_calendar_hours"), {"hours": "09:00-12:00，13:00-17:30"}, follow=True)
    assert "工作时段已保存" in html.content.decode()
    assert CalendarSettings.objects.get().hours == [["09:00", "12:00"], ["13:00", "17:30"]]
    html = c.post(reverse("ui:working_calendar_hours"), {"hours": "14:00-18:00, 08:00-12:00"}, follow=True)
    assert "工作时段无效" in html.content.decode()
    html = c.post(reverse("ui:working_calendar_hours"), {"hours": "9点到12点"}, follow=True)
    assert "不是时段" in html.content.decode()
    assert CalendarSettings.objects.get().hours == [["09:00", "12:00"], ["13:00", "17:30"]]


@pytest.mark.parametrize("hours, zh, en", [
    ("25:00-26:00", "工作时段无效：第 1 段的开始时间“25:00”不是 00:00 至 23:59 之间的时刻",
     "invalid working hours: start of period #1 must be an 'HH:MM' string between 00:00 and 23:59"),
    ("08:00-12:00, 11:00-13:00", "工作时段无效：第 2 段 11:00-13:00 与前一段 08:00-12:00 重叠或排在它之前",
     "invalid working hours: period #2 11:00-13:00 overlaps or precedes 08:00-12:00"),
    ("12:00-08:00", "工作时段无效：第 1 段 12:00-08:00 的开始时间须早于结束时间",
     "invalid working hours: period #1 12:00-08:00 must start before it ends"),
])
def test_refused_working_hours_say_why_in_the_readers_language(client_for, calendar_admin, hours, zh, en):
    """The reason once lived only in the English half: the Chinese page said just 工作时段无效."""
    c = client_for(calendar_admin)
    before, audit = CalendarSettings.objects.values_list("hours").first(), AuditEntry.objects.count()
    html = c.post(reverse("ui:working_calendar_hours"), {"hours": hours}, follow=True).content.decode()
    assert zh in html and "invalid working hours" not in html
    _english(c)
    html = c.post(reverse("ui:working_calendar_hours"), {"hours": hours}, follow=True).content.decode()
    assert en.replace("'", "&#x27;") in html and "工作时段无效" not in html
    assert CalendarSettings.objects.values_list("hours").first() == before and AuditEntry.objects.count() == audit


def test_without_config_manage_the_page_and_its_forms_are_refused(client_for, tree):
    before = AuditEntry.objects.count()
    for user in (user_with(Role.LEADER, region=tree["140213"]), user_with(Role.AUDIT_ADMIN),
                 user_with(Role.GRID_WORKER, region=tree["140213050001001"])):
        c = client_for(user)
        assert c.get(URL).status_code == 403
        assert 'data-nav="working_calendar"' not in c.get("/").content.decode()
        assert c.post(reverse("ui:working_calendar_day"), {"date": "2027-02-05", "kind": "holiday"}).status_code == 403
        assert c.post(reverse("ui:working_calendar_schedule"), {"text": SCHEDULE}).status_code == 403
        assert c.post(reverse("ui:working_calendar_hours"), {"hours": "09:00-17:00"}).status_code == 403
        assert c.post(reverse("ui:working_calendar_confirm"), {"year": "2027", "confirmed": "1"}).status_code == 403
    assert not CalendarDay.objects.exists() and not CalendarSettings.objects.exists()
    assert AuditEntry.objects.count() == before


def test_a_year_is_confirmed_and_made_provisional_again(client_for, calendar_admin):
    c = client_for(calendar_admin)
    html = c.post(reverse("ui:working_calendar_confirm"), {"year": "2027", "confirmed": "1"}, follow=True)
    assert 'data-calendar-status="confirmed"' in html.content.decode()
    html = c.post(reverse("ui:working_calendar_confirm"), {"year": "2027", "confirmed": "0"}, follow=True)
    assert 'data-calendar-status="provisional"' in html.content.decode()
    assert CalendarSettings.objects.get().confirmed_years == []
