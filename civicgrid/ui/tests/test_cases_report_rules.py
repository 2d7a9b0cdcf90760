"""What a report must say and where 自行处置 may be recorded, as the phone page's submit answers: a report with
neither a category nor a description is refused (the page's own rule, now the server's), and a self-handled
report only inside the grids the reporter checks. Refusals change nothing."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.tests.conftest import NEIGHBOUR_POINT, POINT, auth, jpeg, loop, world_counts  # noqa: F401

pytestmark = pytest.mark.django_db


def photo(name="p.jpg", **kw):
    return SimpleUploadedFile(name, jpeg(**kw), content_type="image/jpeg")


def submit(client, **fields):
    data = {"idempotency_key": str(uuid.uuid4()), "category": "", "description": "", "lng": str(POINT[0]),
            "lat": str(POINT[1]), "crs": "wgs84", "address": ""}
    data.update(fields)
    return client.post(reverse("ui:case_submit"), data)


@pytest.mark.parametrize("description", ["", "   \n "])
def test_a_report_without_category_or_description_is_refused(loop, client_for, description):
    before = world_counts()
    response = submit(client_for(loop.worker), description=description)
    assert response.status_code == 400
    assert response.json()["field"] == "description" and response.json()["detail"] == "请选择分类或填写描述"
    assert world_counts() == before


def test_a_category_or_a_description_alone_is_a_report(loop, client_for):
    c = client_for(loop.worker)
    assert submit(c, category=str(loop.cat.pk)).status_code == 201
    assert submit(c, description="路灯不亮").status_code == 201
    assert sorted(Case.objects.values_list("title", flat=True)) == sorted(["暴露垃圾", "路灯不亮"])


def test_the_api_asks_the_same_a_title_saying_what_happened(loop, api_client):
    """The API takes no category-made title: a report without words in its title is refused there too."""
    before = world_counts()
    response = api_client.post("/api/v1/cases", {"title": "  ", "lng": POINT[0], "lat": POINT[1]},
                               content_type="application/json", **auth(loop.worker))
    assert response.status_code == 400 and "标题" in response.json()["detail"]
    assert world_counts() == before


def test_self_handled_outside_the_reporters_grids_is_refused_and_can_go_as_an_ordinary_report(loop, client_for):
    c = client_for(loop.worker)
    before = world_counts()
    response = submit(c, self_handled="1", category=str(loop.cat.pk), lng=str(NEIGHBOUR_POINT[0]),
                      lat=str(NEIGHBOUR_POINT[1]), photos_before=[photo("b.jpg")],
                      photos_after=[photo("a.jpg", color=(10, 200, 10))])
    assert response.status_code == 403
    body = response.json()
    assert body["field"] == "self_handled" and "不能登记为自行处置" in body["detail"] and " / " not in body["detail"]
    assert world_counts() == before
    # the same report, not self-handled, is an ordinary report of the neighbouring grid
    response = submit(c, category=str(loop.cat.pk), lng=str(NEIGHBOUR_POINT[0]), lat=str(NEIGHBOUR_POINT[1]),
                      photos=[photo("p.jpg")])
    assert response.status_code == 201
    case = Case.objects.get()
    assert case.status == Status.REPORTED and not case.is_self_handled and case.region_code == "140213050001002"
