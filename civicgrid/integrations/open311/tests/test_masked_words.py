"""Words published by the public feed (a request's description or title, the notes of the steps it shows) are
scrubbed: ID, phone and bank-card numbers and emails that staff or reporters wrote into them are shown masked
(`pii.scrub`), and the rest as written."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.foundation.access.models import ApiToken

from .conftest import POINT, get, xml

pytestmark = pytest.mark.django_db

DESCRIPTION = "住户张伟（身份证140213198805052317，电话13811112222）门前暴露垃圾"
MASKED = "住户张*（身份证1402**********2317，电话138****2222）门前暴露垃圾"
NOTE = "已联系当事人王小明（13700001111）清理完毕"
MASKED_NOTE = "已联系当事人王**（137****1111）清理完毕"
SECRETS = ("140213198805052317", "13811112222", "13700001111")


def _auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user, label='test')[1]}"}


def _reported_by_a_grid_worker(o311, http, **body) -> Case:
    body = {"title": "暴露垃圾", "description": DESCRIPTION, "lng": POINT[0], "lat": POINT[1],
            "category": o311.cat.pk, **body}
    response = http.post("/api/v1/cases", body, content_type="application/json", **_auth(o311.worker))
    assert response.status_code == 201, response.content
    return Case.objects.get(number=response.json()["number"])


def _every_public_read(http, case) -> str:
    return "\n".join(get(http, path).content.decode() for path in (
        "requests.json", "requests.xml", f"requests/{case.number}.json", f"requests/{case.number}.xml",
        f"requests.json?service_request_id={case.number}", "servicerequestupdates.json",
        "servicerequestupdates.xml"))


def test_an_accepted_description_is_published_with_the_id_and_phone_numbers_masked(o311, http):
    case = _reported_by_a_grid_worker(o311, http)
    act(actor=o311.dispatcher, case=case, action="accept")
    assert Case.objects.get(pk=case.pk).description == DESCRIPTION  # the case file keeps them
    assert get(http, f"requests/{case.number}.json").json()[0]["description"] == MASKED
    assert xml(get(http, f"requests/{case.number}.xml")).find("request/description").text == MASKED
    assert get(http, "requests.json").json()[0]["description"] == MASKED
    text = _every_public_read(http, case)
    assert not any(secret in text for secret in SECRETS)


def test_a_title_standing_in_for_the_description_is_masked_too(o311, http):
    case = _reported_by_a_grid_worker(o311, http, title="张伟 13811112222 门前垃圾", description="")
    act(actor=o311.dispatcher, case=case, action="accept")
    assert get(http, f"requests/{case.number}.json").json()[0]["description"] == "张伟 138****2222 门前垃圾"


def test_a_published_step_note_is_masked(o311, http):
    case = _reported_by_a_grid_worker(o311, http, description="门前暴露垃圾")
    act(actor=o311.dispatcher, case=case, action="accept")
    act(actor=o311.dispatcher, case=case, action="dispatch", department=o311.dept.pk)
    act(actor=o311.handler, case=case, action="report_back", note=NOTE)
    updates = get(http, "servicerequestupdates.json").json()
    assert [u["description"] for u in updates if u["description"].startswith("处置反馈")] == [f"处置反馈：{MASKED_NOTE}"]
    root = xml(get(http, "servicerequestupdates.xml"))
    assert f"处置反馈：{MASKED_NOTE}" in [e.text for e in root.iter("description")]
    assert case.steps.get(action="report_back").note == NOTE  # the timeline keeps it for staff
    text = _every_public_read(http, case)
    assert not any(secret in text for secret in SECRETS)


def test_words_without_personal_data_are_published_as_written(o311, http):
    case = _reported_by_a_grid_worker(o311, http, description="案卷 2026111200005 旁 12 号楼门前垃圾，3 袋")
    act(actor=o311.dispatcher, case=case, action="accept")
    assert get(http, f"requests/{case.number}.json").json()[0]["description"] == "案卷 2026111200005 旁 12 号楼门前垃圾，3 袋"
