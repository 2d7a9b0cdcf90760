"""The demo stage trains the example model, registers and activates it once; a second run writes nothing."""

from __future__ import annotations

import pytest

from civicgrid.integrations.router import suggest
from civicgrid.integrations.router.demo import DEMO_SOURCE, load_demo_router
from civicgrid.integrations.router.models import RouterModelVersion
from civicgrid.testing.builders import department

pytestmark = pytest.mark.django_db


def test_demo_model_is_trained_registered_and_activated_once(tree):
    dept = department("平城区城市管理局")
    dept.short_name = "区城管局"
    dept.save()
    assert "已启用" in load_demo_router()
    v = RouterModelVersion.objects.get(source=DEMO_SOURCE)
    assert v.is_active and len(v.labels) == 7
    assert load_demo_router() == "已存在，未改动"
    assert RouterModelVersion.objects.count() == 1
    s = suggest("小区门口垃圾堆放很多天没人清运")
    assert s["label"] == "区城管局" and s["department_id"] == dept.pk  # found by the short name
