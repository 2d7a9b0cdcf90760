"""The hazard pages for the keyboard and screen readers: 查看完整号码 answers with a number that can take the focus
(replacing the button, as 回访 does on a case) and names what to say when refused; the register's map points carry
the name a screen reader says (code, name, grade, status), for each point, not only the 50 of the list's page."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from civicgrid.apps.hazards import services
from civicgrid.foundation.audit.models import AuditEntry

from .conftest import flood_fields

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_the_revealed_number_replaces_the_button_and_can_take_the_focus(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    c = client_for(world.street)
    page = c.get(reverse("ui:hazard_detail", args=[h.pk])).content.decode()
    button = re.search(r"<button [^>]*data-reveal[^>]*>", page).group(0)
    assert 'hx-target="#owner-contact"' in button and 'data-reveal-failed="未能显示完整号码，请刷新页面后重试"' in button
    assert '<dd id="owner-contact">' in page
    r = c.post(reverse("ui:hazard_reveal", args=[h.pk]), HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    html = r.content.decode()
    assert re.search(r'<span class="contact-result" tabindex="-1"[^>]*><span id="owner-phone"[^>]*>13912345678</span>',
                     html), html
    assert "data-reveal" not in html.replace("data-revealed", "")  # the button is gone
    assert AuditEntry.objects.filter(action="hazards.reveal_phone", target_id=str(h.pk)).count() == 1


def test_a_refused_reveal_answers_plain_text_and_reveals_nothing(world):
    h = services.register_hazard(actor=world.worker, **flood_fields())
    r = client_for(world.leader).post(reverse("ui:hazard_reveal", args=[h.pk]), HTTP_HX_REQUEST="true")
    assert r.status_code == 403 and "13912345678" not in r.content.decode()
    assert AuditEntry.objects.filter(action="hazards.reveal_phone").count() == 0


def test_every_map_point_carries_its_spoken_name(world):
    made = [services.register_hazard(actor=world.worker, **flood_fields(name=f"积水点{i}")) for i in range(52)]
    html = client_for(world.street).get(reverse("ui:hazard_list")).content.decode()
    points = json.loads(re.search(r'<script id="hazard-points" type="application/json">(.*?)</script>', html,
                                  re.S).group(1))
    assert len(points) == 52  # more than the list's page of 50
    labels = {p["label"] for p in points}
    assert f"{made[0].code} 积水点0（一般隐患，已登记）" in labels
    assert all(p["label"].startswith(f'{p["code"]} {p["name"]}（') for p in points)
