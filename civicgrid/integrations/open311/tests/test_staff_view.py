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
