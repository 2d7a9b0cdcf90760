"""Object history partial: loaded by htmx on detail pages, rendered only after a scoped fetch."""

from __future__ import annotations

import pytest
from django.urls import reverse

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.service import record, snapshot
from civicgrid.testing.builders import user_with

from .conftest import HOME_GRID

pytestmark = pytest.mark.django_db


@pytest.fixture
def changed_building(home):
    building = home["building"]
    before = snapshot(building)
    building.address = "永泰街道幸福路88号"
    building.save()
    actor = user_with(Role.COMMUNITY_STAFF, username="editor")
    record(actor=actor, action="data.changed", target=building, before=before, after=snapshot(building))
    return building


def test_history_lists_changes_in_chinese(tree, changed_building, client_for):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    resp = client_for(staff).get(reverse("ui:building_history", args=[changed_building.pk]))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "editor" in html and "修改" in html
    assert "标准地址" in html and "幸福路88号" in html  # field label, then before → after
    assert "<html" not in html  # a partial, not a page


def test_history_is_404_when_the_object_is_out_of_scope(tree, changed_building, away, client_for):
    other = user_with(Role.STREET_STAFF, region=tree["140213051"])
    assert client_for(other).get(reverse("ui:building_history", args=[changed_building.pk])).status_code == 404
    # …and a user with no people capability at all is refused before anything is read.
    volunteer = user_with(Role.VOLUNTEER, region=tree["140213050"])
    assert client_for(volunteer).get(reverse("ui:building_history", args=[changed_building.pk])).status_code == 403


def test_every_detail_page_loads_its_history(tree, home, client_for):
    worker = user_with(Role.GRID_WORKER, region=tree[HOME_GRID])
    c = client_for(worker)
    for kind in ("building", "house", "household", "resident", "unit", "place"):
        html = c.get(reverse(f"ui:{kind}_detail", args=[home[kind].pk])).content.decode()
        assert f'hx-get="{reverse(f"ui:{kind}_history", args=[home[kind].pk])}"' in html
        assert c.get(reverse(f"ui:{kind}_history", args=[home[kind].pk])).status_code == 200
    html = c.get(reverse("ui:region_detail", args=[HOME_GRID])).content.decode()
    assert f'hx-get="{reverse("ui:region_history", args=[HOME_GRID])}"' in html


def test_sensitive_values_show_as_encrypted_and_indexes_are_hidden(tree, home, client_for):
    resident = home["resident"]
    record(actor=None, action="data.changed", target=resident,
           before={"id_number_enc": "[已加密]", "id_number_index": "aaa", "name": "甲一"},
           after={"id_number_enc": "[已加密]", "id_number_index": "bbb", "name": "乙二"})
    worker = user_with(Role.GRID_WORKER, region=tree[HOME_GRID])
    html = client_for(worker).get(reverse("ui:resident_history", args=[resident.pk])).content.decode()
    assert "甲*" in html and "乙*" in html  # the name as the trail keeps it (audit README, "Personal data")
    assert "甲一" not in html and "乙二" not in html
    assert "aaa" not in html and "bbb" not in html


def test_region_code_stays_hidden_where_it_repeats_the_grid(tree, home, client_for):
    """Only a model that names region_code among its `history_shown_fields` (a routing rule) shows it."""
    building = home["building"]
    record(actor=None, action="data.changed", target=building,
           before={"grid": 1, "region_code": "140213050001001", "address": "甲路1号"},
           after={"grid": 2, "region_code": "140213050001002", "address": "乙路2号"})
    worker = user_with(Role.GRID_WORKER, region=tree[HOME_GRID])
    html = client_for(worker).get(reverse("ui:building_history", args=[building.pk])).content.decode()
    assert "乙路2号" in html and "140213050001002" not in html


def test_choices_show_their_labels(tree, home, client_for):
    resident = home["resident"]
    record(actor=None, action="data.changed", target=resident, before={"residency": "registered"},
           after={"residency": "floating"})
    worker = user_with(Role.GRID_WORKER, region=tree[HOME_GRID])
    html = client_for(worker).get(reverse("ui:resident_history", args=[resident.pk])).content.decode()
    assert "户籍人口" in html and "流动人口" in html and "floating" not in html


def test_every_field_a_history_shows_has_a_chinese_label():
    """A field without a verbose name is labelled by Django with its English attribute name ("street code"):
    every field the history pages can show (all but the hidden bookkeeping ones) names itself in Chinese."""
    from django.apps import apps

    from civicgrid.ui.pages.audit import HISTORIED, _hidden

    shown = [*(h.model for h in HISTORIED.values()), "rescue.Incident", "rescue.RescueTeam", "categories.Category",
             "categories.RoutingRule"]
    english = [f"{label}.{f.name}" for label in shown for f in apps.get_model(label)._meta.concrete_fields
               if not _hidden(f.name, apps.get_model(label)) and str(f.verbose_name).isascii()]
    assert english == []


def test_history_changes_take_the_readers_punctuation(tree, changed_building, client_for):
    """Each change reads "field: before → after" in English, "字段：原值 → 新值" in Chinese: the partial, shared by
    every history on the site, wrote the full-width colon whatever the reader's language."""
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    c = client_for(staff)
    url = reverse("ui:building_history", args=[changed_building.pk])
    chinese = c.get(url).content.decode()
    assert '</span>：<del>' in chinese
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    english = c.get(url).content.decode()
    assert "幸福路88号" in english and '</span>: <del>' in english and "：" not in english
