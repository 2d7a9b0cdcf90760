"""What a public client sent with a report (`attribute[…]`) is shown to staff on the case page, labelled by the
service definition's questions and value names; cases from other channels show no such section."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case
from civicgrid.integrations.open311.models import Datatype, ServiceAttribute

from .conftest import form, post

pytestmark = pytest.mark.django_db


def test_the_case_page_shows_the_clients_answers_by_question(o311, http, client):
    ServiceAttribute.objects.create(category=None, code="where_exactly", datatype=Datatype.STRING, order=2,
                                    description="具体位置描述")
    response = post(http, "requests.json", form(o311, **{"attribute[where_exactly]": "东门<b>左侧</b>"}))
    assert response.status_code in (200, 201), response.content
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    client.force_login(o311.dispatcher)
    page = client.get(f"/cases/{case.number}/").content.decode()
    section = page[page.index('id="open311-attributes"'):]
    section = section[:section.index("</section>")]
    assert "FixMyStreet 测试" in section
    assert '<div data-attribute="affects_traffic"><dt>是否影响通行</dt><dd>是</dd></div>' in section
    assert "<dt>具体位置描述</dt><dd>东门&lt;b&gt;左侧&lt;/b&gt;</dd>" in section  # escaped, as sent


def test_cases_from_other_channels_have_no_open311_section(o311, client):
    from civicgrid.apps.cases.services import submit_case

    from .conftest import POINT

    case = submit_case(actor=o311.worker, title="垃圾", lng=POINT[0], lat=POINT[1], category=o311.cat.pk,
                       source="grid_worker")[0]
    client.force_login(o311.dispatcher)
    assert 'id="open311-attributes"' not in client.get(f"/cases/{case.number}/").content.decode()


def _section(page: str, marker: str) -> str:
    part = page[page.index(marker):]
    return part[:part.index("</section>")]


def test_staff_see_the_reporters_media_links_external_and_unfetched(o311, http, client):
    """The links a client sent with the report and with an update (a comment, a reopening) are on the case page
    (as links marked external) and in the API's case detail; the public had them after 立案, staff had nothing."""
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.apps.cases.models import CaseStep, Status
    from civicgrid.apps.cases.tests.conftest import auth

    from .conftest import KEY

    response = post(http, "requests.json", form(o311, media_url=["https://example.com/a.jpg",
                                                                 "https://example.com/b.jpg"]))
    assert response.status_code == 201, response.content
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    update = {"api_key": KEY, "jurisdiction_id": "140213", "service_request_id": case.number, "status": "OPEN",
              "update_id": "u-1", "updated_datetime": "2026-05-14T09:30:00+08:00", "description": "又多了",
              "media_url": "https://example.com/c.jpg"}
    comment = post(http, "servicerequestupdates.json", update)
    assert comment.status_code == 200, comment.content
    Case.objects.filter(pk=case.pk).update(status=Status.CLOSED, closed_at=timezone.now() - timedelta(hours=1))
    reopened = post(http, "servicerequestupdates.json", {**update, "update_id": "u-2", "description": "没修好",
                                                          "media_url": "https://example.com/d.jpg"})
    assert reopened.status_code == 200, reopened.content
    comment_id, reopen_id = int(comment.json()[0]["update_id"]), int(reopened.json()[0]["update_id"])
    assert CaseStep.objects.get(pk=reopen_id).action == "reopen"

    client.force_login(o311.dispatcher)
    page = client.get(f"/cases/{case.number}/").content.decode()
    report = _section(page, 'id="external-media"')
    for url in ("https://example.com/a.jpg", "https://example.com/b.jpg"):
        assert (f'<a href="{url}" rel="external nofollow noopener noreferrer" referrerpolicy="no-referrer" '
                f'target="_blank" data-external-link>{url}</a>') in report
    assert "data-external-media-note" in report
    timeline = _section(page, 'id="timeline"')
    assert 'href="https://example.com/c.jpg"' in timeline and 'href="https://example.com/d.jpg"' in timeline

    detail = client.get(f"/api/v1/cases/{case.number}", **auth(o311.dispatcher)).json()
    assert detail["media_urls"] == ["https://example.com/a.jpg", "https://example.com/b.jpg"]
    steps = {s["id"]: s for s in detail["timeline"]}
    assert steps[comment_id]["media_urls"] == ["https://example.com/c.jpg"]
    assert steps[reopen_id]["media_urls"] == ["https://example.com/d.jpg"]
    assert all(s["media_urls"] == [] for pk, s in steps.items() if pk not in (comment_id, reopen_id))


def test_a_comment_is_labelled_as_one_on_the_staff_timeline_and_in_the_api(o311, http, client):
    from civicgrid.apps.cases.tests.conftest import auth

    from .conftest import KEY

    case = Case.objects.get(number=post(http, "requests.json", form(o311)).json()[0]["service_request_id"])
    response = post(http, "servicerequestupdates.json", {
        "api_key": KEY, "jurisdiction_id": "140213", "service_request_id": case.number, "description": "又多了"})
    assert response.status_code == 200, response.content
    client.force_login(o311.dispatcher)
    timeline = _section(client.get(f"/cases/{case.number}/").content.decode(), 'id="timeline"')
    assert '<li data-step="comment">\n      <strong>留言</strong>' in timeline
    steps = client.get(f"/api/v1/cases/{case.number}", **auth(o311.dispatcher)).json()["timeline"]
    assert [s["label"] for s in steps if s["action"] == "comment"] == ["留言"]
