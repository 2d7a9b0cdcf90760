"""Cases of the social types made private by categories migration 0004 (养老服务, 社会救助, 治安隐患, 传染病疫情线索 …)
leave the public feed: their requests answer 404 like any other private category's, and neither the list nor the
updates show them."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.access.models import ApiToken

from .conftest import POINT, get, spec_error

pytestmark = pytest.mark.django_db

migration = importlib.import_module("civicgrid.apps.categories.migrations.0004_private_vulnerable_types")
WORDS = "老人行动不便，子女在外地。"


def _case_in(o311, http, category: Category) -> Case:
    token = ApiToken.issue(o311.worker, label="test")[1]
    response = http.post("/api/v1/cases", {"title": "独居老人需要上门照料", "description": WORDS, "lng": POINT[0],
                                           "lat": POINT[1], "category": category.pk},
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201, response.content
    case = Case.objects.get(number=response.json()["number"])
    act(actor=o311.dispatcher, case=case, action="accept")
    act(actor=o311.dispatcher, case=case, action="dispatch", department=o311.dept.pk)
    act(actor=o311.handler, case=case, action="report_back", note="已上门走访")
    return case


@pytest.mark.parametrize(("code", "name"), [("0402", "养老服务"), ("0403", "社会救助"), ("0201", "可疑人员或物品"),
                                            ("0601", "传染病疫情线索")])
def test_an_existing_case_of_a_type_made_private_leaves_the_feed(o311, http, code, name):
    social = o311.private.taxonomy
    parent = Category.objects.create(taxonomy=social, code=code[:2], name="类", is_public=True)
    category = Category.objects.create(taxonomy=social, code=code, name=name, parent=parent, is_public=True)
    case = _case_in(o311, http, category)
    assert get(http, f"requests/{case.number}.json").json()[0]["description"] == WORDS  # public before
    assert case.number in get(http, "servicerequestupdates.json").content.decode()

    migration.make_private(apps, None)

    assert not Category.objects.get(pk=category.pk).is_public
    for path in (f"requests/{case.number}.json", f"requests/{case.number}.xml"):
        assert "service_request_id not found" in spec_error(get(http, path), 404)
    private = _case_in(o311, http, o311.private)  # a category that was always private answers the same
    assert "service_request_id not found" in spec_error(get(http, f"requests/{private.number}.json"), 404)
    for path in ("requests.json", "requests.xml", f"requests.json?service_request_id={case.number}",
                 "servicerequestupdates.json", "servicerequestupdates.xml"):
        text = get(http, path).content.decode()
        assert case.number not in text and WORDS not in text, path
