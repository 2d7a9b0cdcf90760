"""A case is filed under a subclass: reporting (the API and every service caller; the web forms offer only subclasses) and accepting refuse a class that has
subclasses, naming them, and change nothing. Open311 keeps to its catalogue (a class it offers stays usable
there), but such a case is accepted only once a subclass is chosen."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act, submit_case
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.core.errors import ValidationFailed

from .conftest import POINT, auth, report, world_counts

pytestmark = pytest.mark.django_db


def test_the_api_refuses_a_class_naming_its_subclasses(loop, api_client):
    before = world_counts()
    response = api_client.post("/api/v1/cases", {"title": "垃圾", "lng": POINT[0], "lat": POINT[1],
                                                 "category": loop.cls.pk},
                               content_type="application/json", **auth(loop.worker))
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == "category"
    assert "「市容环境类」是大类" in body["detail"] and f"06001 暴露垃圾（{loop.cat.pk}）" in body["detail"] \
        and f"06002 积存垃圾渣土（{loop.sibling.pk}）" in body["detail"]
    assert world_counts() == before
    response = api_client.post("/api/v1/cases", {"title": "垃圾", "lng": POINT[0], "lat": POINT[1],
                                                 "category": loop.cat.pk},
                               content_type="application/json", **auth(loop.worker))
    assert response.status_code == 201


def test_a_class_without_active_subclasses_is_its_own_most_specific_category(loop):
    Category.objects.filter(parent=loop.cls).update(is_active=False)
    assert report(loop, category=loop.cls.pk).category_id == loop.cls.pk


def _open311_class_case(loop) -> Case:
    """A case Open311 filed under the class (its catalogue decides what it offers)."""
    return submit_case(actor=None, source="open311", title="路边暴露垃圾", lng=POINT[0], lat=POINT[1],
                       category=loop.cls.pk)[0]


def test_accepting_keeps_no_class(loop):
    case = _open311_class_case(loop)
    assert case.category_id == loop.cls.pk
    before = world_counts()
    with pytest.raises(ValidationFailed) as refused:  # 「（不变）」: the class would stay
        act(actor=loop.dispatcher, case=case, action="accept")
    assert refused.value.field == "category" and "请选择其下的小类" in refused.value.message
    with pytest.raises(ValidationFailed):  # choosing the class itself
        act(actor=loop.dispatcher, case=case, action="accept", category=loop.cls.pk)
    assert world_counts() == before and Case.objects.get(pk=case.pk).category_id == loop.cls.pk
    accepted = act(actor=loop.dispatcher, case=case, action="accept", category=loop.sibling.pk)
    assert accepted.category_id == loop.sibling.pk and accepted.accepted_at is not None


def test_the_accept_form_answers_a_kept_class_with_a_400(loop):
    case = _open311_class_case(loop)
    before = world_counts()
    client = Client()
    client.force_login(loop.dispatcher)
    response = client.post(reverse("ui:case_act", args=[case.number, "accept"]),
                                                {"category": "", "current_category": loop.cls.pk})
    assert response.status_code == 400 and "是大类" in response.content.decode()
    assert world_counts() == before
