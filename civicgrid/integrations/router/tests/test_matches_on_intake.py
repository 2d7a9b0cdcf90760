"""Intake matched every report's text against the subclasses, also for a report filed under a subclass, where
nothing at intake reads the matches: the 立案 form keeps the report's own category, auto-dispatch and the dispatch
form's department take the model's answer. Such a report's suggestion now carries `categories: None` and the
matcher does not run; a report without a subclass (none, or an Open311 class) is matched as before. The case page,
the triage list and the triage API still show the matches: they match the case's text when they show it.

Every text here is made up for the test."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from civicgrid.apps.cases.models import Case, Source
from civicgrid.apps.cases.services import check_report, submit_cases
from civicgrid.apps.cases.tests.conftest import POINT, auth, report
from civicgrid.apps.categories import matching
from civicgrid.integrations.router import versions

pytestmark = pytest.mark.django_db

TEXT = "菜场后门的暴露垃圾堆了三天，天热发臭，苍蝇乱飞"


@pytest.fixture
def model(loop, example_model, settings):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 1.5  # off: the cases stay where the tests read them
    return versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)


@pytest.fixture
def ranked(monkeypatch) -> list[str]:
    """The texts the matcher scored (the real matcher, watched)."""
    seen: list[str] = []
    rank = matching.Index.rank

    def watched(self, text, limit=matching.TOP):
        seen.append(text)
        return rank(self, text, limit)

    monkeypatch.setattr(matching.Index, "rank", watched)
    return seen


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_report_under_a_subclass_is_not_matched_at_intake(loop, model, ranked):
    case = report(loop, title="暴露垃圾", description=TEXT, category=loop.cat.pk)
    assert case.suggestion["model_version"] == model.version and case.suggestion["label"]
    assert case.suggestion["categories"] is None
    assert ranked == []


def test_a_report_without_a_subclass_is_matched_as_before(loop, model, ranked):
    case = report(loop, actor=loop.dispatcher, source="hotline", category=None, title="暴露垃圾",
                  description=TEXT, hotline_ticket="12345-20261201-0201")
    assert case.suggestion["categories"][0]["id"] == loop.cat.pk and len(ranked) == 1


def test_queued_reports_are_matched_only_where_they_have_no_subclass(loop, model, ranked):
    """The Open311 queue's batches: one under a subclass, one under a class (Open311 may file one), one without."""
    def spec(category):
        return check_report(actor=None, source=Source.OPEN311, title="暴露垃圾", description=TEXT,
                            lng=POINT[0], lat=POINT[1], category=category)

    under_subclass, under_class, without = submit_cases([spec(loop.cat.pk), spec(loop.cls.pk), spec(None)])
    assert under_subclass.suggestion["categories"] is None
    assert under_class.suggestion["categories"][0]["id"] == loop.cat.pk
    assert without.suggestion["categories"][0]["id"] == loop.cat.pk
    assert len(ranked) == 2


def test_the_case_page_still_shows_the_matches_of_a_report_under_a_subclass(loop, model):
    case = report(loop, title="暴露垃圾", description=TEXT, category=loop.cat.pk)
    assert case.suggestion["categories"] is None
    html = signed_in(loop.dispatcher).get(reverse("ui:case_detail", args=[case.number])).content.decode()
    shown = re.search(r"<p data-suggested-categories>.*?</p>", html, re.S).group(0)
    assert "市容环境类 › 暴露垃圾" in shown
    english = signed_in(loop.dispatcher)
    english.cookies["django_language"] = "en"
    html = english.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    shown = re.search(r"<p data-suggested-categories>.*?</p>", html, re.S).group(0)
    assert "(contains its name or a keyword)" in shown and not re.search("[（）、「」；]", shown), shown
    Case.objects.filter(pk=case.pk).update(suggestion=None)  # no suggestion at all: still no panel line
    html = signed_in(loop.dispatcher).get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "data-suggested-categories" not in html


def test_the_triage_list_and_api_still_show_them_in_as_many_queries_for_30_as_for_3(loop, api_client, settings):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 1.5
    client, headers = signed_in(loop.dispatcher), auth(loop.dispatcher)

    def waiting(n: int) -> None:
        for i in range(n):
            case = report(loop, title=f"暴露垃圾{i}", description=TEXT, category=loop.cat.pk)
            Case.objects.filter(pk=case.pk).update(
                suggestion={"label": "区城管局", "confidence": 0.4, "top3": [], "categories": None})

    def queries(path: str, **extra) -> int:
        getter = api_client.get if path.startswith("/api/") else client.get
        with CaptureQueriesContext(connection) as ctx:
            assert getter(path, **extra).status_code == 200
        return len(ctx.captured_queries)

    waiting(3)
    client.get("/router/triage/")  # a first request marks the session warm: measure from the second on
    api_client.get("/api/v1/router/triage", **headers)
    few = (queries("/router/triage/"), queries("/api/v1/router/triage", **headers))
    waiting(27)
    assert (queries("/router/triage/"), queries("/api/v1/router/triage", **headers)) == few

    html = client.get("/router/triage/").content.decode()
    assert html.count("data-suggested-categories") == 30 and html.count("暴露垃圾（含该类名称或关键词）") == 30
    # in English the reasons read with ASCII punctuation, not the Chinese brackets around English words
    client.cookies["django_language"] = "en"
    english = client.get("/router/triage/").content.decode()
    shown = re.search(r"<span class=\"hint\" data-suggested-categories>(.*?)</span>", english, re.S).group(1)
    assert "暴露垃圾 (contains its name or a keyword)" in shown, shown
    assert not re.search("[（）、「」；]", shown), shown
    client.cookies.pop("django_language")
    items = api_client.get("/api/v1/router/triage?limit=50", **headers).json()["items"]
    assert len(items) == 30 and all(i["suggestion"]["categories"][0]["id"] == loop.cat.pk for i in items)
    # what the database holds is unchanged: the matches are made for the reader
    assert not Case.objects.exclude(suggestion__categories=None).exists()


def test_which_reports_need_the_matches(loop):
    from civicgrid.apps.cases.services.intake import needs_matches

    assert needs_matches(None) and needs_matches(loop.cls) and not needs_matches(loop.cat)
