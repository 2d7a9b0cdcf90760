"""The API's `as_of`: `/api/v1/evaluation` (and its export) compute the table as the cases stood at a past moment,
with the page's parser and refusals, and say the moment they computed at; a 挂账 or 重新办理 after that moment
leaves the answer as it was."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from civicgrid.apps.cases.models import CaseStep
from civicgrid.apps.evaluation import selectors
from civicgrid.foundation.audit.models import AuditEntry

from .test_api import auth
from .test_period_facts import GRID, closed_on_time, granted_since_october, handler, moment, reported, step  # noqa: F401

pytestmark = pytest.mark.django_db
NOVEMBER = {"subject": "grid", "month": "2026-11", "unranked": "true"}


def api(client, user, **params):
    return client.get("/api/v1/evaluation", {**NOVEMBER, **params}, **auth(user))


def overdue(d):
    """Reported, accepted and dispatched on 11-05: past its handling deadline well before the end of November."""
    case = reported(d, moment(11, 5, 9))
    step(moment(11, 5, 9, 10), d.dispatcher, case, "accept")
    step(moment(11, 5, 9, 20), d.dispatcher, case, "dispatch", department=d.dept.pk)
    return case


def test_the_api_as_of_a_moment_ignores_what_happened_after_it(district, handler, client):  # noqa: F811
    d = district
    done = closed_on_time(d, handler, 11)
    late = overdue(d)
    before = api(client, d.leader, as_of="2026-11-13 18:00")
    assert before.status_code == 200, before.content
    then = before.json()
    assert then["as_of"] == "2026-11-13T18:00:00+08:00"  # echoed in district time, to keep beside the table
    grid = next(i for i in then["items"] if i["code"] == GRID)
    assert (grid["counts"]["due_close"], grid["counts"]["closed"], grid["rank"]) == (2, 1, 1)

    step(moment(11, 16), d.dispatcher, done, "reopen", reason="又坏了")  # 重新办理 after the moment
    step(moment(11, 16, 11), d.dispatcher, late, "suspend", reason="等待预算")  # 挂账 after the moment
    assert api(client, d.leader, as_of="2026-11-13 18:00").json() == then
    assert api(client, d.leader, as_of="2026-11-13 18:00:00").json() == then
    # Without as_of, the table as it stands now: the reopened case is no longer closed.
    now = api(client, d.leader).json()
    assert next(i for i in now["items"] if i["code"] == GRID)["counts"]["closed"] == 0
    assert now["as_of"] != then["as_of"]
    # The answer's as_of, sent back as it was given (offset, fractions of a second), gives the same table.
    assert api(client, d.leader, as_of=now["as_of"]).json() == now
    assert api(client, d.leader, as_of=then["as_of"]).json() == then
    assert api(client, d.leader, as_of="2026-11-13T10:00:00Z").json() == then  # the same instant in UTC
    # A day alone is the end of that district day.
    assert api(client, d.leader, as_of="2026-11-13").json()["as_of"] == "2026-11-14T00:00:00+08:00"


def test_the_api_gives_the_page_and_xlsx_rows_for_the_same_as_of(district, handler, client):  # noqa: F811
    d = district
    done = closed_on_time(d, handler, 11)
    overdue(d)
    step(moment(11, 16), d.dispatcher, done, "reopen", reason="又坏了")
    asked = "2026-11-13 23:59"
    body = api(client, d.leader, as_of=asked).json()
    assert body["items"], body

    # The page's table: the same selector and parser, with the moment the page parses.
    page = selectors.evaluate(d.leader, "grid", *selectors.month_period("2026-11"), as_of=selectors.parse_as_of(asked))
    assert [(r.code, r.rank, r.counts) for r in page.rows] == [(i["code"], i["rank"], i["counts"]) for i in body["items"]]
    client.force_login(d.leader)
    html = client.get("/evaluation/", {**NOVEMBER, "unranked": "1", "as_of": asked})
    assert html.status_code == 200 and "2026-11-13 23:59" in html.content.decode()

    def sheets(response):
        assert response.status_code == 200, response.content
        book = load_workbook(io.BytesIO(response.content))
        header, *lines = list(book.worksheets[0].iter_rows(values_only=True))
        return [dict(zip(header, line, strict=True)) for line in lines], dict(book.worksheets[1].iter_rows(values_only=True))

    for response in (client.get("/evaluation/export.xlsx", {**NOVEMBER, "as_of": asked}),
                     client.get("/api/v1/evaluation/export", {"subject": "grid", "month": "2026-11", "as_of": asked},
                                **auth(d.leader))):
        lines, notes = sheets(response)
        assert notes["统计于"].startswith("2026-11-13 23:59:00")
        assert len(lines) == len(body["items"])
        for line, item in zip(lines, body["items"], strict=True):
            assert (line["编码"], line["排名"], line["综合得分"]) == (item["code"], item["rank"], item["score"])
            assert {k: line[label] for k, label in body["count_labels"].items()} == item["counts"]


@pytest.mark.parametrize(("text", "words"), [
    ("2026-11-31", "统计时点不存在"), ("2026-11-13 25:00", "统计时点不存在"), ("2099-01-01", "尚未到来"),
    ("13/11/2026", "统计时点格式"), ("2026-11-13T18", "统计时点格式"), ("1999-01-01", "日期须在"),
    ("2026-11-13T18:00+25:00", "统计时点不存在"), ("2099-01-01T00:00:00+08:00", "尚未到来"),
    ("2026-11-13 18:00:00.1234567", "统计时点格式"), ("2026-10-31", "早于统计期间"),
    ("2026-10-31T23:59:59+08:00", "早于统计期间"),
])
def test_a_bad_or_future_as_of_is_refused_naming_it(district, handler, client, text, words):  # noqa: F811
    d = district
    closed_on_time(d, handler, 11)
    audited, steps = AuditEntry.objects.count(), CaseStep.objects.count()
    for path in ("/api/v1/evaluation", "/api/v1/evaluation/export"):
        refused = client.get(path, {"subject": "grid", "month": "2026-11", "as_of": text}, **auth(d.leader))
        assert refused.status_code == 400, (path, refused.content)
        body = refused.json()
        assert body["field"] == "as_of" and words in body["detail"], (path, body)
    assert (AuditEntry.objects.count(), CaseStep.objects.count()) == (audited, steps)


def test_the_schema_declares_as_of_with_a_description(client):
    schema = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/evaluation", "/api/v1/evaluation/export"):
        params = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert "统计时点" in params["as_of"]["description"], params["as_of"]
    answer = schema["components"]["schemas"]["EvaluationOut"]["properties"]["as_of"]
    assert "+08:00" in answer["description"]
    assert timezone.get_current_timezone_name() == "Asia/Shanghai"
