"""The report forms' live panel offers the possible duplicates near the chosen point before the report is sent:
the phone page sends its category and point with the description (as the desk form does), and the panel names
the open cases of that category nearby that the reporter may see."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import pytest
from django.urls import reverse

from civicgrid.apps.cases.tests.conftest import (  # noqa: F401
    NEIGHBOUR_POINT,
    OTHER_STREET_POINT,
    POINT,
    loop,
    report,
)

pytestmark = pytest.mark.django_db
AT = {"lng": str(POINT[0]), "lat": str(POINT[1]), "crs": "wgs84"}


def panel(client, **params) -> str:
    response = client.get(reverse("ui:router_suggest"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_phone_page_sends_category_and_point_and_asks_again_when_they_change(loop, client_for):
    page = client_for(loop.worker).get(reverse("ui:case_report")).content.decode()
    assert 'hx-params="description,address,category,lng,lat,crs"' in page
    assert "change from:select[name=category]" in page and "located from:closest form" in page


def test_an_open_case_of_the_category_at_the_point_is_named_to_the_grid_worker(loop, client_for):
    first = report(loop, description="路灯夜间不亮")
    worker = client_for(loop.worker)
    body = panel(worker, description="路灯夜间不亮，整条路很黑", category=str(loop.cat.pk), **AT)
    assert f'data-nearby-case="{first.number}"' in body and first.title in body
    # without a point there is nothing to compare: no list
    assert "data-nearby" not in panel(worker, description="路灯夜间不亮", category=str(loop.cat.pk))
    # a point 1.7 km away (the next grid) is no duplicate
    far = {"lng": str(NEIGHBOUR_POINT[0]), "lat": str(NEIGHBOUR_POINT[1])}
    assert "data-nearby" not in panel(worker, description="路灯夜间不亮", category=str(loop.cat.pk), **far)
    # only the category and the point: still offered (the same category is offered by place alone)
    assert f'data-nearby-case="{first.number}"' in panel(worker, category=str(loop.cat.pk), **AT)


def test_a_case_the_reporter_may_not_see_is_not_named(loop, client_for):
    """A resident (no case list) and a grid worker of another street learn nothing of cases outside their scope."""
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    first = report(loop)
    resident = panel(client_for(loop.resident), description="垃圾", category=str(loop.cat.pk), **AT)
    assert "data-nearby" not in resident and first.number not in resident
    stranger = user_with(Role.GRID_WORKER, region=loop.tree["140213051001001"], username="wg9")
    body = panel(client_for(stranger), description="垃圾", category=str(loop.cat.pk), **AT)
    assert "data-nearby" not in body and first.number not in body
    # the stranger's own point, with nothing open there, lists nothing either
    there = {"lng": str(OTHER_STREET_POINT[0]), "lat": str(OTHER_STREET_POINT[1])}
    assert "data-nearby" not in panel(client_for(stranger), category=str(loop.cat.pk), **there)


def test_a_dispatcher_is_not_told_the_category_is_missing_when_the_phone_sends_it(loop, client_for, monkeypatch):
    """The tester's second finding: with the category sent, the panel's outlook is about the duplicate, not
    "未确定事项分类"."""
    from civicgrid.ui.tests.test_cases_report import live_suggestion

    monkeypatch.setattr("civicgrid.integrations.router.suggest", lambda text: live_suggestion(loop, loop.cat))
    monkeypatch.setattr("civicgrid.integrations.router.versions.active", lambda: "t1")  # a model is live
    first = report(loop)
    body = panel(client_for(loop.dispatcher), description="小区门口垃圾堆放", category=str(loop.cat.pk), **AT)
    assert "未确定事项分类" not in body
    assert 'data-outlook="held"' in body and f"可能与 {first.number} 重复" in body
    assert f'data-nearby-case="{first.number}"' in body
