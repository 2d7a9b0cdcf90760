"""A campaign's progress on the list (page and API) counts the checklists in the reader's view, as the campaign's
own page does: a district campaign seen from a street or a grid is that street's or grid's progress. The list
costs a fixed number of queries whatever the number of campaigns."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from civicgrid.apps.hazards import services

from .test_campaigns import _answers, _mine, _open

pytestmark = pytest.mark.django_db


@pytest.fixture
def district_campaign(world):
    """A district-wide campaign (one checklist per grid: 8, 4 per street), one checklist filled in street 050."""
    campaign = _open(world, actor=world.centre, region=world.tree["140213"])
    services.fill_inspection(actor=world.worker, inspection=_mine(world, campaign),
                             answers=_answers(_mine(world, campaign)))
    return campaign


def _page(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("ui:campaign_list"))
    assert response.status_code == 200
    return response.content.decode()


def _shown(html: str, campaign) -> str:
    row = re.search(rf'<tr data-oid="{campaign.pk}">(.*?)</tr>', html, re.S).group(1)
    return re.search(r"(\d+) / (\d+)", row).group(0)


@pytest.mark.parametrize(("who", "expected"), [("street", (1, 4)), ("worker", (1, 1)), ("centre", (1, 8)),
                                               ("leader", (1, 8))])
def test_the_list_shows_the_readers_progress_as_the_campaign_page_does(world, district_campaign, api_client,
                                                                       token_for, who, expected):
    user = getattr(world, who)
    done, total = expected
    progress = services.campaign_progress(user, district_campaign)["totals"]
    assert (progress["done"], progress["total"]) == expected  # the campaign's own page
    assert _shown(_page(user), district_campaign) == f"{done} / {total}"
    headers = token_for(user)
    row = api_client.get("/api/v1/campaigns", **headers).json()["items"][0]
    assert (row["inspections_done"], row["inspections_total"], row["percent"]) == (done, total,
                                                                                  round(100 * done / total))
    detail = api_client.get(f"/api/v1/campaigns/{district_campaign.pk}", **headers).json()
    assert (detail["inspections_done"], detail["inspections_total"]) == expected
    assert (detail["totals"]["done"], detail["totals"]["total"]) == expected


def _queries(callable_) -> int:
    with CaptureQueriesContext(connection) as ctx:
        callable_()
    return len(ctx.captured_queries)


def test_the_list_costs_the_same_queries_for_one_campaign_or_many(world, district_campaign, api_client, token_for):
    client = Client()
    client.force_login(world.street)
    headers = token_for(world.street)

    def page():
        assert client.get(reverse("ui:campaign_list")).status_code == 200

    def api():
        assert api_client.get("/api/v1/campaigns", **headers).status_code == 200

    page(), api()  # warm up per-process lookups
    one = (_queries(page), _queries(api))
    for n in range(4):
        _open(world, name=f"第{n}轮排查")
    assert len(api_client.get("/api/v1/campaigns", **headers).json()["items"]) == 5
    assert (_queries(page), _queries(api)) == one
