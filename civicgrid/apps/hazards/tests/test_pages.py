"""The hazard and campaign pages: rendering, scope (404 for another street), the forms calling the services with
refusals changing nothing, the lists' exports, and a list page whose query count does not grow with its rows."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.hazards import services
from civicgrid.apps.hazards.models import Campaign, Hazard, HazardPlan, Inspection, InspectionStatus, Status
from civicgrid.foundation.audit.models import AuditEntry

from .conftest import GRID, OTHER_STREET_POINT, POINT, flood_fields

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _soon(days: int = 7) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def hazards(world):
    mine = services.register_hazard(actor=world.worker, **flood_fields())
    theirs = services.register_hazard(actor=world.centre, **flood_fields(
        name="古城街道积水点", lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1]))
    return mine, theirs


# ------------------------------------------------------------------------------------------------ register


def test_list_shows_scope_counts_and_map(world, hazards):
    mine, theirs = hazards
    r = client_for(world.street).get(reverse("ui:hazard_list"))
    assert r.status_code == 200
    text = r.content.decode()
    assert f'data-oid="{mine.pk}"' in text and f'data-oid="{theirs.pk}"' not in text
    assert "古城街道积水点" not in text  # neither in the rows nor in the map's points
    assert 'data-count="total">1<' in text
    assert 'id="hazard-points"' in text and mine.code in text


def test_list_filters(world, hazards):
    c = client_for(world.centre)
    assert c.get(reverse("ui:hazard_list"), {"street": "140213051"}).content.decode().count("data-oid=") == 1
    assert c.get(reverse("ui:hazard_list"), {"kind": "safety"}).content.decode().count("data-oid=") == 0
    assert c.get(reverse("ui:hazard_list"), {"q": "古城"}).content.decode().count("data-oid=") == 1
    # nonsense filters are dropped, not refused
    assert c.get(reverse("ui:hazard_list"), {"status": "x", "grade": "<b>", "street": "abc"}).status_code == 200


def test_list_query_count_does_not_grow(world):
    c = client_for(world.centre)
    services.register_hazard(actor=world.worker, **flood_fields())
    c.get(reverse("ui:hazard_list"))  # warm the session
    with CaptureQueriesContext(connection) as few:
        assert c.get(reverse("ui:hazard_list")).status_code == 200
    for n in range(12):
        services.register_hazard(actor=world.worker, **flood_fields(name=f"积水点{n}", grade="major" if n % 3 else "general"))
    with CaptureQueriesContext(connection) as many:
        r = c.get(reverse("ui:hazard_list"))
    assert r.content.decode().count("data-oid=") == 13
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]


def test_register_page_creates_and_refusal_keeps_nothing(world):
    c = client_for(world.worker)
    assert c.get(reverse("ui:hazard_new")).status_code == 200
    form = {"kind": "flood", "category": "low_lying", "name": "新建积水点", "description": "雨后积水",
            "lat": POINT[1], "lng": POINT[0], "grade": "general", "owner_phone": "13900001111"}
    bad = client_for(world.worker).post(reverse("ui:hazard_new"), {**form, "category": "gas"})
    assert bad.status_code == 400 and "data-error" in bad.content.decode()
    outside = c.post(reverse("ui:hazard_new"), {**form, "lng": OTHER_STREET_POINT[0], "lat": OTHER_STREET_POINT[1]})
    assert outside.status_code == 403
    beyond = c.post(reverse("ui:hazard_new"), {**form, "lng": "116.40", "lat": "39.90"})  # Beijing
    assert beyond.status_code == 400 and "data-error" in beyond.content.decode()
    assert Hazard.objects.count() == 0
    r = c.post(reverse("ui:hazard_new"), {**form, "short_term_fixable": "0"})
    h = Hazard.objects.get()
    assert r.status_code == 302 and r["Location"] == reverse("ui:hazard_detail", args=[h.pk])
    assert not h.short_term_fixable and h.owner_phone_masked == "139****1111"
    assert h.inspector == world.worker.display_name


def test_leader_may_not_open_the_register_form(world):
    assert client_for(world.leader).get(reverse("ui:hazard_new")).status_code == 403


# -------------------------------------------------------------------------------------------------- detail


def test_detail_renders_and_other_street_gets_404(world, hazards):
    mine, theirs = hazards
    r = client_for(world.street).get(reverse("ui:hazard_detail", args=[mine.pk]))
    text = r.content.decode()
    assert r.status_code == 200
    assert 'data-action-form="start"' in text and "139****5678" in text and "区水务局" in text
    assert f"/rescue/incidents/new/?hazard={mine.pk}" in text and f"/materials/nearest/?hazard={mine.pk}" in text
    assert client_for(world.other_street).get(reverse("ui:hazard_detail", args=[mine.pk])).status_code == 404
    assert client_for(world.street).get(reverse("ui:hazard_detail", args=[theirs.pk])).status_code == 404
    assert client_for(world.street).get(reverse("ui:hazard_detail", args=[999999])).status_code == 404


def test_detail_links_only_to_what_the_user_may_open(world, hazards):
    """A department handler or a leader sees no 上报险情 link (rescue.command), and a campaign link only when
    the campaign is in their scope: every link shown opens."""
    mine, _ = hazards
    street = client_for(world.street)
    street.post(reverse("ui:campaign_new"), _campaign_form())
    campaign = Campaign.objects.get()
    Hazard.objects.filter(pk=mine.pk).update(campaign=campaign)
    assert 'data-link="campaign"' in street.get(reverse("ui:hazard_detail", args=[mine.pk])).content.decode()
    handler = client_for(world.patron_handler)
    assert handler.get(reverse("ui:campaign_detail", args=[campaign.pk])).status_code in (403, 404)
    assert 'data-link="campaign"' not in handler.get(reverse("ui:hazard_detail", args=[mine.pk])).content.decode()
    for user in (world.patron_handler, world.leader):
        client = client_for(user)
        text = client.get(reverse("ui:hazard_detail", args=[mine.pk])).content.decode()
        assert 'data-link="rescue"' not in text
        assert client.get(f"/rescue/incidents/new/?hazard={mine.pk}").status_code == 403
        for href in re.findall(r'<p class="links">(.*?)</p>', text, re.S)[0:1]:
            for url in re.findall(r'href="([^"]+)"', href):
                assert client.get(url.replace("&amp;", "&")).status_code == 200, url
    text = client_for(world.centre).get(reverse("ui:hazard_detail", args=[mine.pk])).content.decode()
    assert 'data-link="rescue"' in text


def test_actions_through_the_page(world, hazards):
    mine, _ = hazards
    c = client_for(world.street)
    url = reverse("ui:hazard_act", args=[mine.pk, "start"])
    refused = c.post(url, {"measures": "", "deadline": _soon()})
    assert refused.status_code == 400 and "data-error" in refused.content.decode()
    mine.refresh_from_db()
    assert mine.status == Status.REGISTERED and mine.steps.count() == 1
    assert c.post(url, {"measures": "疏通管网", "deadline": _soon(), "budget": "8000"}).status_code == 302
    mine.refresh_from_db()
    assert mine.status == Status.RECTIFYING and str(mine.rectification.budget) == "8000.00"
    # a state the action does not start from: 409 with the page, nothing changed
    again = c.post(url, {"measures": "x", "deadline": _soon()})
    assert again.status_code == 409
    # another street: 404, nothing changed
    assert client_for(world.other_street).post(reverse("ui:hazard_act", args=[mine.pk, "report_done"]),
                                               {"note": "x"}).status_code == 404
    mine.refresh_from_db()
    assert mine.status == Status.RECTIFYING


def test_plan_form_and_its_refusal(world):
    h = services.register_hazard(actor=world.street, **flood_fields(grade="major"))
    c = client_for(world.street)
    text = c.get(reverse("ui:hazard_detail", args=[h.pk])).content.decode()
    assert "data-missing" in text
    url = reverse("ui:hazard_plan", args=[h.pk, "governance"])
    refused = c.post(url, {"responsibility": "区水务局", "measures": "改造", "deadline": _soon()})
    assert refused.status_code == 400 and HazardPlan.objects.count() == 0
    ok = c.post(url, {"responsibility": "区水务局", "measures": "改造", "funds": "50000", "deadline": _soon(),
                      "emergency_plan": "封路抽排"})
    assert ok.status_code == 302 and HazardPlan.objects.count() == 1
    assert "data-missing" not in c.get(reverse("ui:hazard_detail", args=[h.pk])).content.decode()


def test_reveal_phone_is_audited_and_scoped(world, hazards):
    mine, _ = hazards
    url = reverse("ui:hazard_reveal", args=[mine.pk])
    r = client_for(world.street).post(url)
    assert r.status_code == 200 and "13912345678" in r.content.decode()
    assert AuditEntry.objects.filter(action="hazards.reveal_phone", target_id=str(mine.pk)).count() == 1
    assert client_for(world.leader).post(url).status_code == 403
    assert client_for(world.other_street).post(url).status_code == 404
    opened = client_for(world.street).get(url)  # opened as a page: on to the hazard, nothing revealed
    assert opened.status_code == 302 and opened["Location"] == reverse("ui:hazard_detail", args=[mine.pk])
    assert AuditEntry.objects.filter(action="hazards.reveal_phone").count() == 1


def test_photo_view_is_scoped(world, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (120, 80, 60)).save(buf, "JPEG")
    buf.seek(0)
    h = services.register_finding(actor=world.worker, photos=[buf], **flood_fields())
    photo = h.photos.get()
    url = reverse("ui:hazard_photo", args=[h.pk, photo.pk])
    r = client_for(world.street).get(url)
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"
    assert b"".join(r.streaming_content)[:3] == b"\xff\xd8\xff"
    name = f"{h.code}-{photo.pk}.jpg"
    assert r["Content-Disposition"] == f"inline; filename=\"{name}\"; filename*=UTF-8''{name}"
    assert r["X-Content-Type-Options"] == "nosniff" and r["Content-Security-Policy"] == "default-src 'none'"
    assert r["Cache-Control"] == "private, max-age=3600"
    assert client_for(world.other_street).get(url).status_code == 404


# -------------------------------------------------------------------------------------------------- lists


@pytest.mark.parametrize("which", ["issues", "responsibility", "ledger"])
def test_the_three_lists_and_their_exports(world, hazards, which):
    mine, theirs = hazards
    c = client_for(world.street)
    r = c.get(reverse(f"ui:hazard_{which}"))
    text = r.content.decode()
    assert r.status_code == 200 and f'data-oid="{mine.pk}"' in text and f'data-oid="{theirs.pk}"' not in text
    assert f'data-export="{which}"' in text
    x = c.get(reverse(f"ui:hazard_export_{which}"), {"kind": "flood"})
    assert x.status_code == 200 and "spreadsheetml" in x["Content-Type"]
    from openpyxl import load_workbook

    rows = [r for r in load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True)]
    cells = {str(v) for row in rows for v in row if v is not None}
    assert mine.code in cells and theirs.code not in cells
    assert AuditEntry.objects.filter(action__icontains="export", data__list=which).count() == 1
    # a grid worker may view but not export
    assert client_for(world.worker).get(reverse(f"ui:hazard_export_{which}")).status_code == 403


# ----------------------------------------------------------------------------------------------- campaigns


def _campaign_form(**extra) -> dict:
    form = {"name": "2023 汛前隐患排查", "kind": "flood", "region": "140213050", "level": "grid",
            "starts_on": timezone.localdate().isoformat(), "deadline": _soon(20), "found_by": "seasonal",
            "use_low_lying": "1", "items_low_lying": "排水口是否堵塞\n是否设置警示标志\n",
            "items_gas": "软管是否老化"}  # gas is not checked: ignored
    form.update(extra)
    return form


def test_campaign_pages_open_follow_and_fill(world):
    street = client_for(world.street)
    assert street.get(reverse("ui:campaign_new")).status_code == 200
    bad = street.post(reverse("ui:campaign_new"), _campaign_form(deadline="2000-01-01"))
    assert bad.status_code == 400 and Campaign.objects.count() == 0
    r = street.post(reverse("ui:campaign_new"), _campaign_form())
    campaign = Campaign.objects.get()
    assert r.status_code == 302 and r["Location"] == reverse("ui:campaign_detail", args=[campaign.pk])
    assert list(campaign.items.values_list("text", flat=True)) == ["排水口是否堵塞", "是否设置警示标志"]
    assert campaign.found_by == "seasonal" and campaign.inspections.count() == 4
    assert f'data-oid="{campaign.pk}"' in street.get(reverse("ui:campaign_list")).content.decode()
    detail = street.get(reverse("ui:campaign_detail", args=[campaign.pk])).content.decode()
    assert 'data-street="140213050"' in detail

    worker = client_for(world.worker)
    mine = worker.get(reverse("ui:inspections_mine")).content.decode()
    inspection = Inspection.objects.get(campaign=campaign, region_code=GRID)
    assert f'data-oid="{inspection.pk}"' in mine and mine.count("data-oid=") == 1
    url = reverse("ui:inspection_fill", args=[inspection.pk])
    assert 'data-verdict="fail"' in worker.get(url).content.decode()
    a, b = campaign.items.order_by("order")
    # one item unanswered: refused, nothing kept
    refused = worker.post(url, {f"ok_{a.pk}": "1", "lat": POINT[1], "lng": POINT[0]})
    assert refused.status_code == 400 and Hazard.objects.count() == 0
    assert Inspection.objects.get(pk=inspection.pk).status == InspectionStatus.PENDING
    ok = worker.post(url, {f"ok_{a.pk}": "1", f"ok_{b.pk}": "0", f"note_{b.pk}": "路口无警示牌",
                           f"register_{b.pk}": "1", f"h{b.pk}_name": "永泰南路缺警示牌", f"h{b.pk}_grade": "general",
                           "lat": POINT[1], "lng": POINT[0]})
    assert ok.status_code == 302
    h = Hazard.objects.get()
    assert h.campaign == campaign and h.found_by == "seasonal" and h.region_code == GRID
    done = worker.get(url).content.decode()
    assert f'data-found="{h.code}"' in done
    assert worker.post(url, {f"ok_{a.pk}": "1", f"ok_{b.pk}": "1"}).status_code == 409
    # the other street's staff: 404 for the checklist and the campaign's own street rows stay hidden
    other = client_for(world.other_street)
    assert other.get(url).status_code == 404
    assert other.get(reverse("ui:campaign_detail", args=[campaign.pk])).status_code == 404


def test_campaign_form_needs_the_capability(world):
    assert client_for(world.worker).get(reverse("ui:campaign_new")).status_code == 403
    refused = client_for(world.other_street).post(reverse("ui:campaign_new"), _campaign_form())
    assert refused.status_code == 403 and Campaign.objects.count() == 0


def test_menu_entries(world):
    text = client_for(world.worker).get(reverse("ui:home")).content.decode()
    assert 'data-nav="hazards"' in text and 'data-nav="campaigns"' in text
    centre = client_for(world.centre).get(reverse("ui:home")).content.decode()
    assert 'data-nav="campaigns"' in centre  # campaign without inspect
    leader = client_for(world.leader).get(reverse("ui:home")).content.decode()
    assert 'data-nav="hazards"' in leader and 'data-nav="campaigns"' not in leader


def test_revisit_page(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    c = client_for(world.street)
    assert c.get(reverse("ui:campaign_revisit_new")).status_code == 200
    r = c.post(reverse("ui:campaign_revisit_new"), {"name": "回头看", "kind": "flood", "region": "140213050",
                                                     "deadline": _soon(), "include_closed": "1"})
    assert r.status_code == 302
    assert Inspection.objects.get().hazard == h


def test_fill_form_has_a_map_per_item_to_pick_the_point(world):
    """Each item's hazard fields carry a map pre-centred on the checklist's grid, writing that item's lat/lng."""
    today = timezone.localdate()
    campaign = services.open_campaign(actor=world.street, name="汛前排查", kind="flood", region=world.tree["140213050"],
                                      starts_on=today, deadline=today + dt.timedelta(days=9),
                                      checklist={"low_lying": ["排水口是否堵塞"]})
    inspection = Inspection.objects.get(campaign=campaign, region_code=GRID)
    item = campaign.items.get()
    page = client_for(world.worker).get(reverse("ui:inspection_fill", args=[inspection.pk])).content.decode()
    grid = world.tree[GRID]
    assert f'data-item-pick="{item.pk}"' in page
    if grid.centroid_lat is not None:
        assert f'data-centre-lat="{grid.centroid_lat}"' in page and f'data-centre-lng="{grid.centroid_lng}"' in page
    assert f'name="h{item.pk}_lat" inputmode="decimal" value="" data-item-lat' in page
    assert f'name="h{item.pk}_lng" inputmode="decimal" value="" data-item-lng' in page
    assert "vendor/leaflet/leaflet.js" in page and "vendor/leaflet/leaflet.css" in page
    assert 'id="inspection-region"' in page  # the grid's outline drawn on the map


def test_the_deadline_field_names_its_window_and_a_typo_is_refused(world, hazards):
    mine, _ = hazards
    c = client_for(world.street)
    last = timezone.localdate() + dt.timedelta(days=366)
    page = c.get(reverse("ui:hazard_detail", args=[mine.pk])).content.decode()
    assert f'min="{timezone.localdate():%Y-%m-%d}" max="{last:%Y-%m-%d}"' in page
    refused = c.post(reverse("ui:hazard_act", args=[mine.pk, "start"]), {"measures": "清淤", "deadline": "2206-06-20"})
    assert refused.status_code == 400
    assert f"整改时限须在 {timezone.localdate():%Y-%m-%d} 至 {last:%Y-%m-%d} 之间" in refused.content.decode()
    mine.refresh_from_db()
    assert mine.status == Status.REGISTERED and mine.steps.count() == 1 and mine.rectification.deadline is None
