"""The evaluation page and its export: the ranking table, tabs and period, refusals, and the xlsx opened back."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import translation
from openpyxl import load_workbook

from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.audit.models import AuditEntry

from .conftest import at, closed_case, make_case

pytestmark = pytest.mark.django_db


def test_the_ranking_page(district, client):
    closed_case(district)
    closed_case(district, department=district.other_dept, on_time=False)
    client.force_login(district.leader)
    page = client.get("/evaluation/", {"subject": "department", "month": "2026-05"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "综合指标值 = 立案数分值×10% + 结案率×30% + 按期处置率×30% + (1−返工率)×30%" in html
    assert html.index("区城管局") < html.index("区住建局")  # best first
    assert "70.00" in html and 'class="tag grade-C"' in html
    assert "subject=street" in html and "month=2026-05" in html  # tabs keep the period
    assert 'href="/evaluation/export.xlsx?subject=department&amp;month=2026-05"' in html

    streets = client.get("/evaluation/", {"subject": "street", "start": "2026-05-01", "end": "2026-05-31"})
    assert streets.status_code == 200 and "永泰街道" in streets.content.decode()
    assert "区域权重可配置" in streets.content.decode()


def test_bad_periods_and_subjects_are_explained(district, client):
    client.force_login(district.leader)
    for params in ({"start": "2026-02-30"}, {"start": "2026-05-02", "end": "2026-05-01"}, {"subject": "weather"}):
        response = client.get("/evaluation/", params)
        assert response.status_code == 400 and 'class="error"' in response.content.decode()
    assert client.get("/evaluation/export.xlsx", {"month": "2026-13"}).status_code == 400


@pytest.mark.parametrize("params, message", [
    ({"month": "2026-011"}, "月份格式应为 YYYY-MM"),  # was cut to 2026-01: January
    ({"month": "2026-111"}, "月份格式应为 YYYY-MM"),  # was cut to 2026-11: November
    ({"period": "range", "start": "2026-11-0199"}, "起始日期格式应为 YYYY-MM-DD"),  # was read as 2026-11-01
    ({"period": "range", "start": "2026-05-01", "end": "2026-05-310"}, "截止日期格式应为 YYYY-MM-DD"),
    ({"period": "range", "start": "20260501"}, "起始日期格式应为 YYYY-MM-DD"),  # fromisoformat would take it
    ({"period": "range", "start": "2026-02-30"}, "起始日期不存在：2026-02-30"),
])
def test_malformed_months_and_dates_are_refused_not_cut_to_size(district, client, params, message):
    closed_case(district)
    closed_case(district, reported=at(10, month=1))
    client.force_login(district.leader)
    page = client.get("/evaluation/", {"subject": "department", **params})
    html = page.content.decode()
    assert page.status_code == 400 and message in html and 'class="error"' in html
    assert "data-subject=" not in html and "上报的案件" not in html  # nothing evaluated
    export = client.get("/evaluation/export.xlsx", {"subject": "department", **params})
    assert export.status_code == 400 and message in export.content.decode()
    assert not AuditEntry.objects.filter(action="data.exported").exists()


def test_a_period_that_has_not_begun_is_refused_the_same_everywhere(district, client):
    """A month or a start date after today: refused with the reason (it answered 该期间范围内没有案件, or for a
    start alone 结束日期早于开始日期), on the page, in the export and in the API; a period under way is fine."""
    from django.utils import timezone

    from civicgrid.foundation.access.models import ApiToken

    tomorrow = timezone.localdate() + timedelta(days=1)
    token = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(district.leader, label='test')[1]}"}
    client.force_login(district.leader)
    for params in ({"month": "2099-12"}, {"start": tomorrow.isoformat()},
                   {"start": tomorrow.isoformat(), "end": (tomorrow + timedelta(days=30)).isoformat()}):
        page = client.get("/evaluation/", params)
        html = page.content.decode()
        assert page.status_code == 400 and "统计期间尚未开始" in html and "晚于今天" in html, params
        assert "结束日期早于开始日期" not in html and "该期间范围内没有案件" not in html
        export = client.get("/evaluation/export.xlsx", params)
        assert export.status_code == 400 and "统计期间尚未开始" in export.content.decode()
        api = client.get("/api/v1/evaluation", params, **token)
        assert api.status_code == 400 and "统计期间尚未开始" in api.json()["detail"], params
    assert not AuditEntry.objects.filter(action="data.exported").exists()
    # reversed and in the future: it is reversed, whatever else (it said the period had not begun)
    reversed_ = {"start": (tomorrow + timedelta(days=30)).isoformat(), "end": tomorrow.isoformat()}
    html = client.get("/evaluation/", reversed_).content.decode()
    assert "结束日期早于开始日期" in html and "统计期间尚未开始" not in html
    api = client.get("/api/v1/evaluation", reversed_, **token)
    assert api.status_code == 400 and "结束日期早于开始日期" in api.json()["detail"]
    this_month = client.get("/evaluation/", {"month": f"{timezone.localdate():%Y-%m}"})
    assert this_month.status_code == 200
    under_way = client.get("/evaluation/", {"start": f"{timezone.localdate():%Y-%m-01}",
                                            "end": (tomorrow + timedelta(days=30)).isoformat()})
    assert under_way.status_code == 200


def test_the_export_opens_back_and_is_audited(district, client):
    closed_case(district)
    client.force_login(district.dispatcher)
    response = client.get("/evaluation/export.xlsx", {"subject": "grid_worker", "month": "2026-05"})
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("排名", "名称", "账号") and "有效上报率(%)" in rows[0]
    assert {r[2] for r in rows[1:]} == {"wg1", "wg2"}
    assert AuditEntry.objects.filter(action="data.exported", actor=district.dispatcher).count() == 1


def test_the_export_says_which_period_and_moment_it_covers(district, client):
    """A range across two months was exported as a sheet named after the first month only ("街道202604") with
    nothing saying when it was computed: the sheet is named by the whole period, and a second sheet 说明 gives
    the period and 统计于 (the ranking keeps its layout, header on row 1)."""
    from django.utils import timezone

    closed_case(district, reported=at(2))
    client.force_login(district.leader)
    asked = {"subject": "street", "start": "2026-04-25", "end": "2026-05-03"}
    before = timezone.localtime()
    book = load_workbook(io.BytesIO(client.get("/evaluation/export.xlsx", asked).content))
    assert book.sheetnames == ["街道20260425-20260503", "说明"] and book.active.title == "街道20260425-20260503"
    lines = list(book.active.iter_rows(values_only=True))
    assert lines[0][:3] == ("排名", "名称", "编码") and lines[1][:3] == (1, "永泰街道", "140213050")
    notes = dict(book["说明"].iter_rows(values_only=True))
    assert notes["评价对象"] == "街道" and notes["统计期间"] == "2026-04-25 至 2026-05-03（按上报日期）"
    computed = notes["统计于"]
    assert computed[:19] >= f"{before:%Y-%m-%d %H:%M:%S}" and computed.endswith("（Asia/Shanghai）")
    assert notes["综合指标值"].startswith("结案率×25%")


def test_only_evaluators_see_the_page(district, client):
    for user in (district.street_dispatcher, district.worker, district.handler):
        client.force_login(user)
        assert client.get("/evaluation/").status_code == 403
        assert client.get("/evaluation/export.xlsx").status_code == 403
    client.logout()
    assert client.get("/evaluation/").status_code == 302


@pytest.fixture
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def test_the_ranking_page_in_english_keeps_the_data_in_chinese(district, client, chinese_afterwards):
    closed_case(district)
    client.force_login(district.leader)
    assert client.post("/i18n/setlang/", {"language": "en", "next": "/evaluation/"}).status_code == 302
    html = client.get("/evaluation/", {"subject": "department", "month": "2026-05"}).content.decode()
    assert 'lang="en"' in html
    assert "Composite score = Accepted score×10% + Closure rate×30% + On-time handling rate×30% + " \
           "(1 − Rework rate)×30%" in html
    for english in ("Rank", "Score", "Grade", "Departments", "Grid workers (supervisors)", "cases reported 2026-05-01"):
        assert english in html, english
    assert "综合得分" not in html and "区城管局" in html  # names are data
    # the export keeps its Chinese headers (one table for every reader)
    sheet = load_workbook(io.BytesIO(client.get("/evaluation/export.xlsx", {"month": "2026-05"}).content)).active
    assert any("结案率" in str(c.value) for c in sheet[1])


def _headers(html: str) -> list[str]:
    import re

    head = html[html.index("<thead>"):html.index("</thead>")]
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>.*?</th>", head, re.S)]


@pytest.mark.parametrize(("subject", "zh", "band"), [
    # a region's 立案数 is the cases filed in its grids, by whoever filed them
    ("grid", "所辖网格立案数", None),
    ("street", "所辖网格立案数", None),
    # a 监督员's own reports beside the figures of the grids they are granted
    ("grid_worker", "所辖网格立案数", None),
    # a 受理员's are the cases they accepted: 受理数, scored as 受理数分值 (DOMAIN.md §4)
    ("intake", "受理数", "受理数分值×25%"),
    # a department's keep §4's 立案数 (立案数分值)
    ("department", "立案数", "立案数分值×10%"),
])
def test_each_subjects_columns_say_what_they_count(district, client, chinese_afterwards, subject, zh, band):
    """One label 立案数 served every subject: a grid's cases filed in it and a 受理员's cases accepted read alike.
    Each table names what it counts, on the page (both languages), in the xlsx and in the API."""
    from datetime import date

    from civicgrid.apps.evaluation import selectors
    from civicgrid.apps.evaluation.api import as_json

    closed_case(district)
    client.force_login(district.leader)
    asked = {"subject": subject, "month": "2026-05"}
    headers = _headers(client.get("/evaluation/", asked).content.decode())
    assert zh in headers and (zh == "立案数" or "立案数" not in headers), headers
    book = load_workbook(io.BytesIO(client.get("/evaluation/export.xlsx", asked).content))
    exported = [c.value for c in book.active[1]]
    assert zh in exported and (zh == "立案数" or "立案数" not in exported), exported
    answer = as_json(selectors.evaluate(district.leader, subject, date(2026, 5, 1), date(2026, 5, 31)))
    assert answer["count_labels"]["accepted"] == zh  # the API names them alike
    if band:
        assert f"综合指标值 = {band}" in client.get("/evaluation/", asked).content.decode()
        assert band in dict(book["说明"].iter_rows(values_only=True))["综合指标值"]
        assert answer["formula"][0]["label"] == band.partition("×")[0]
    # in English, the same labels in the catalogue's words
    with translation.override("en"):
        english = translation.gettext(zh)
        band_en = translation.gettext("%(count)s分值") % {"count": english}
    client.post("/i18n/setlang/", {"language": "en", "next": "/evaluation/"})
    html = client.get("/evaluation/", asked).content.decode()
    assert english in _headers(html), _headers(html)
    if band:
        assert f"= {band_en}×" in html
    if subject == "grid_worker":
        with translation.override("en"):
            own = [translation.gettext(w) for w in ("本人上报数", "本人有效上报数", "所辖网格核实数")]
        assert set(own) <= set(_headers(html))


def test_the_form_says_which_period_it_means(district, client):
    """The form prefills this month; whoever types dates and picks 按日期范围 gets the range (the prefilled month
    is dropped), and 按月 keeps the month (stray dates are dropped). The tabs and the export link carry only the
    period that was used."""
    closed_case(district)  # reported 2026-05-10
    client.force_login(district.leader)
    first = client.get("/evaluation/", {"subject": "street"}).content.decode()
    assert 'name="month" value="20' in first and 'value="month" checked' in first
    asked = {"subject": "street", "period": "range", "month": "2026-11", "start": "2026-05-01", "end": "2026-05-31"}
    page = client.get("/evaluation/", asked)
    assert page.status_code == 200
    html = page.content.decode()
    assert "2026-05-01 — 2026-05-31 上报的案件" in html and 'class="error"' not in html
    assert 'value="range" checked' in html and 'name="month" value=""' in html
    assert 'href="/evaluation/export.xlsx?subject=street&amp;start=2026-05-01&amp;end=2026-05-31"' in html
    assert 'href="?subject=department&amp;start=2026-05-01&amp;end=2026-05-31"' in html  # the tabs keep the range
    by_month = client.get("/evaluation/", {**asked, "period": "month"}).content.decode()
    assert "2026-11-01 — 2026-11-30 上报的案件" in by_month and 'value="month" checked' in by_month
    assert 'name="start" value=""' in by_month
    # the export link the range page offers opens to the same period
    sheet = load_workbook(io.BytesIO(client.get(
        "/evaluation/export.xlsx", {"subject": "street", "start": "2026-05-01", "end": "2026-05-31"}).content)).active
    assert any(row[1] == "永泰街道" for row in sheet.iter_rows(min_row=2, values_only=True))


def test_a_month_and_dates_without_a_choice_are_refused_clearly(district, client):
    """A link, the export or the API naming both a month and dates is ambiguous: refused, nothing exported."""
    client.force_login(district.leader)
    both = {"subject": "street", "month": "2026-11", "start": "2026-05-01", "end": "2026-05-31"}
    page = client.get("/evaluation/", both)
    assert page.status_code == 400 and "请按月份或按起止日期统计，不能同时给出" in page.content.decode()
    export = client.get("/evaluation/export.xlsx", both)
    # the site's error page, in the reader's language, as the case ledger's link refuses (not bare text)
    html = export.content.decode()
    assert export.status_code == 400 and export["Content-Type"].startswith("text/html")
    assert "请按月份或按起止日期统计，不能同时给出" in html and "请求有误" in html and "<html" in html
    client.cookies["django_language"] = "en"
    english = client.get("/evaluation/export.xlsx", both).content.decode()
    client.cookies.pop("django_language")
    assert "不能同时给出" not in english and "give a month or start/end, not both" in english
    token = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(district.leader, label='test')[1]}"}
    for path in ("/api/v1/evaluation", "/api/v1/evaluation/export"):
        api = client.get(path, both, **token)
        assert api.status_code == 400 and "不能同时给出" in api.json()["detail"], path
        # The page's choice is no API parameter: named and refused, as any unknown parameter of the API is.
        api = client.get(path, {**both, "period": "range"}, **token)
        assert api.status_code == 422 and [e["field"] for e in api.json()["errors"]] == ["period"], path
    assert not AuditEntry.objects.filter(action="data.exported").exists()


def test_the_export_grades_as_the_page_does(district, client):
    """A row without a score says why in the grade column, the same on the page and in the xlsx (it was blank):
    a grid worker without reports is not ranked (本期无上报，不参与排名), a department with no rate 无数据."""
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    from .test_selectors import regions

    regions(district)
    user_with(Role.GRID_WORKER, region=district.tree["140213050002001"], username="wg-idle")
    client.force_login(district.leader)
    asked = {"subject": "grid_worker", "month": "2026-05"}
    html = client.get("/evaluation/", {**asked, "unranked": "1"}).content.decode()  # listed on request
    shown = {}
    for row in html.split("<tr data-subject=")[1:]:
        code = row.split('<span class="hint">', 1)[1].split("</span>", 1)[0]
        shown[code] = row.split('data-label="等级">', 1)[1].split("</td>", 1)[0]
    assert shown["wg-idle"] == "本期无上报，不参与排名" and "B" in shown["wg1"]
    assert "监督员本期无上报时不评分、不参与排名" in html
    sheet = load_workbook(io.BytesIO(client.get("/evaluation/export.xlsx", asked).content)).active
    lines = list(sheet.iter_rows(values_only=True))
    grade, rank = lines[0].index("等级"), lines[0].index("排名")
    exported = {line[2]: line[grade] for line in lines[1:]}
    assert exported == {code: (cell if "<" not in cell else cell.split(">")[1].split("<")[0])
                        for code, cell in shown.items()}
    assert [line[rank] for line in lines[1:] if line[2] == "wg-idle"] == [None]  # listed, not ranked

    # 区住建局 holds one case, not due yet: nothing of its own to measure
    make_case(district, status="accepted", accepted_at=at(10, 11), department=district.other_dept)
    html = client.get("/evaluation/", {"subject": "department", "month": "2026-05", "unranked": "1"}).content.decode()
    row = html.split(f'<tr data-subject="{district.other_dept.pk}">', 1)[1].split("</tr>", 1)[0]
    assert 'data-label="等级">无数据</td>' in row and 'data-label="排名">—</td>' in row


@pytest.fixture
def crowd(district, monkeypatch):
    """Seven grid workers who reported (valid rates 1/2 … 7/8: seven different scores) and six who did not (the
    four below, wg1 and wg2), on pages of three rows."""
    from civicgrid.apps.cases.models import Status
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with
    from civicgrid.ui.pages import evaluation as page

    monkeypatch.setattr(page, "PAGE_SIZE", 3)
    for i in range(7):
        worker = user_with(Role.GRID_WORKER, region=district.tree["140213050001001"], username=f"wg-r{i}")
        for _ in range(i + 1):
            closed_case(district, reporter=worker)
        make_case(district, status=Status.REFUSED, reporter=worker)
    for i in range(4):
        user_with(Role.GRID_WORKER, region=district.tree["140213050001002"], username=f"wg-idle{i}")
    return district


def _listed(html: str) -> list[tuple[str, str]]:
    """(rank cell, account) of each ranking row on the page."""
    rows = html.split("<tr data-subject=")[1:]
    return [(row.split('data-label="排名">', 1)[1].split("</td>", 1)[0],
             row.split('<span class="hint">', 1)[1].split("</span>", 1)[0]) for row in rows if "data-system" not in row]


def test_the_ranking_comes_a_page_at_a_time_ranked_across_pages(crowd, client):
    """All of a district's grid workers were drawn on one page (1,001 rows, ~920 KB); ~800 of them 本期无上报. The
    page lists the ranked rows a page at a time, ranks as in the whole table, with page links that keep the
    subject and period; the unranked rows are counted, not listed; the export has every row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(crowd.leader)
    asked = {"subject": "grid_worker", "month": "2026-05"}
    first = client.get("/evaluation/", asked)
    html = first.content.decode()
    assert first.status_code == 200
    assert _listed(html) == [("1", "wg-r6"), ("2", "wg-r5"), ("3", "wg-r4")]
    assert "本期无上报，不参与排名" not in html.split("<tbody", 1)[1]
    assert "另有 6 个未参与排名" in html and 'href="?subject=grid_worker&amp;month=2026-05&amp;unranked=1"' in html
    assert 'href="?subject=grid_worker&amp;month=2026-05&amp;page=2" rel="next"' in html and "第 1 / 3 页" in html
    assert 'href="/evaluation/export.xlsx?subject=grid_worker&amp;month=2026-05"' in html

    counted = []
    for number in (1, 2, 3):
        with CaptureQueriesContext(connection) as queries:
            page = client.get("/evaluation/", {**asked, "page": number}).content.decode()
        counted.append(len(queries))
        if number == 2:
            assert _listed(page) == [("4", "wg-r3"), ("5", "wg-r2"), ("6", "wg-r1")]  # ranks go on
        if number == 3:
            assert _listed(page) == [("7", "wg-r0")] and 'rel="next"' not in page and 'rel="prev"' in page
    assert counted[0] == counted[1] == counted[2], counted  # the same queries whatever the page

    sheet = load_workbook(io.BytesIO(client.get("/evaluation/export.xlsx", asked).content)).active
    lines = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(lines) == 13 and [line[0] for line in lines[:7]] == [1, 2, 3, 4, 5, 6, 7]
    assert {line[2] for line in lines[7:]} == {"wg1", "wg2", "wg-idle0", "wg-idle1", "wg-idle2", "wg-idle3"}


def test_the_unranked_rows_are_listed_after_the_ranking_on_request(crowd, client):
    client.force_login(crowd.leader)
    asked = {"subject": "grid_worker", "month": "2026-05", "unranked": "1"}
    html = client.get("/evaluation/", {**asked, "page": 3}).content.decode()
    assert [rank for rank, _ in _listed(html)] == ["7", "—", "—"] and "本期无上报，不参与排名" in html
    assert "另有" not in html and 'name="unranked" value="1" checked' in html and "第 3 / 5 页" in html
    assert 'href="?subject=grid_worker&amp;month=2026-05&amp;unranked=1&amp;page=4" rel="next"' in html
    assert 'href="?subject=street&amp;month=2026-05&amp;unranked=1"' in html  # the tabs keep the choice
    assert 'href="/evaluation/export.xlsx?subject=grid_worker&amp;month=2026-05"' in html  # the export: everything
    last = client.get("/evaluation/", {**asked, "page": 5}).content.decode()
    assert len(_listed(last)) == 1 and 'rel="next"' not in last
    # a period in which nobody reported: nothing ranked, said so, and how many are not
    quiet = client.get("/evaluation/", {"subject": "grid_worker", "month": "2026-04"}).content.decode()
    assert "本期没有参与排名的对象。" in quiet and "另有 13 个未参与排名" in quiet and "该期间范围内没有案件" not in quiet


def test_grids_without_a_case_are_folded_on_the_page_and_kept_in_the_export(district, client):
    """The seven grids of the district without a case in May were missing from the table; they are counted under
    the ranking (另有 7 个未参与排名), listed on request with 无数据, and every one is in the xlsx."""
    closed_case(district, 0)
    client.force_login(district.leader)
    asked = {"subject": "grid", "month": "2026-05"}
    html = client.get("/evaluation/", asked).content.decode()
    assert "另有 7 个未参与排名" in html and html.count("<tr data-subject=") == 1
    listed = client.get("/evaluation/", {**asked, "unranked": "1"}).content.decode()
    assert listed.count("<tr data-subject=") == 8 and "140213051002002" in listed and "无数据" in listed
    sheet = load_workbook(io.BytesIO(client.get("/evaluation/export.xlsx", asked).content)).active
    lines = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(lines) == 8 and lines[0][:3] == (1, "永泰社区1第1网格", "140213050001001")
    assert {line[-1] for line in lines[1:]} == {"无数据"}
