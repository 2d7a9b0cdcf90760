"""The operations pages in English: hazards, flood control, emergency materials, rescue and smart routing.

Each test switches to English with the language switch (the cookie decides, not the browser), opens the main
page of one area as a person who may see it, and checks the labels are English and their Chinese source is gone.
Data (names, addresses, departments) stays as it was entered. English stays active in the test's thread after an
English request, so the `chinese_afterwards` fixture switches back for the tests that follow.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation

from civicgrid.apps.hazards.models import PatronAssignment, PatronKind
from civicgrid.apps.hazards.services import register_hazard
from civicgrid.apps.hazards.tests.conftest import flood_fields
from civicgrid.apps.materials.models import Warehouse
from civicgrid.apps.rescue import services as rescue
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import department, user_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def in_english(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    assert 'lang="zh-hans"' in client.get(url).content.decode()  # Chinese first
    response = client.post("/i18n/setlang/", {"language": "en", "next": url})
    assert response.status_code == 302
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN")  # the browser does not decide
    assert response.status_code == 200
    html = response.content.decode()
    assert 'lang="en"' in html
    return html


def check(html: str, english: tuple[str, ...], chinese: tuple[str, ...]) -> None:
    for label in english:
        assert label in html, label
    for label in chinese:
        assert label not in html, label


def test_hazard_ledger_in_english(tree, chinese_afterwards):
    patron = department("区水务局")
    PatronAssignment.objects.create(department=patron, street=tree["140213050"], kind=PatronKind.FLOOD)
    street = user_with(Role.STREET_STAFF, region=tree["140213050"])
    register_hazard(actor=street, **flood_fields(grade="major"))
    html = in_english(street, "/hazards/")
    check(html,
          ("Hazard ledger", "Register a hazard", "Hazard inspections", "Major hazard", "Rectification overdue",
           "Patron department", "Rectification deadline", "Low-lying flood-prone spot", "Issue list",
           "Responsibility list", "Rectification ledger", "Listed for supervision", "Flood hazard"),
          ("隐患台账", "登记隐患", "重大隐患", "整改期限", "包保部门", "低洼易涝点", "问题清单", "整改台账", "防汛隐患"))
    assert "永泰南路下穿积水点" in html and "区水务局" in html  # data stays as entered


def test_flood_overview_in_english(tree, chinese_afterwards):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    client = Client()
    client.force_login(staff)
    observed = timezone.localtime(timezone.now() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/flood/readings/", {"kind": "rain", "station": "RG-A1", "lat": 40.01, "lng": 113.21,
                                                "observed_at": observed, "window_hours": "3", "rain_mm": "60"})
    assert response.status_code == 302
    html = in_english(staff, "/flood/")
    check(html,
          ("Flood control overview", "Flood status", "District warning signal", "Level Ⅱ response",
           "Latest rainfall readings", "Enter readings", "Duty roster"),
          ("防汛总览", "防汛状态", "级响应", "最新雨量观测", "录入观测", "值班表"))
    # the signal's name is translated; the response history keeps the reason the service wrote (data)
    assert re.search(r'id="district-signal" data-signal="orange"[^>]*>Orange warning</span>', html)


def test_materials_warehouses_in_english(tree, chinese_afterwards):
    Warehouse(code="WH-050", name="永泰街道物资库", region=tree["140213050"], lat=40.04, lng=113.24,
              keeper="王保管").save()
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    html = in_english(staff, "/materials/")
    check(html,
          ("Emergency materials", "Find the nearest materials", "Reserve shortfalls and expiring materials",
           "Add a warehouse", "Keeper", "Map of material warehouses"),
          ("应急物资", "查找最近物资", "储备缺口与临期物资", "新增仓库", "保管员", "物资仓库分布图"))
    assert "永泰街道物资库" in html and "王保管" in html


def test_rescue_incidents_in_english(tree, chinese_afterwards):
    command = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"])
    rescue.create_team(actor=command, region_code="140213050", code="RT-050", name="永泰街道抢险队", kind="street",
                       leader_name="赵刚", leader_phone="13700002222", headcount=15)
    html = in_english(command, "/rescue/")
    check(html,
          ("Emergency rescue", "Report an incident", "Incident number", "Reported at", "Incident map",
           "Rescue teams", "No matching incidents."),
          ("抢险救援", "报告险情", "险情编号", "报告时间", "险情分布", "没有符合条件的险情。"))
    teams = in_english(command, "/rescue/teams/")
    check(teams, ("Register a team", "Team name", "Street part-time team", "All skills", "Water rescue"),
          ("登记队伍", "队伍名称", "街道兼职队伍", "全部技能", "水上救援"))
    assert "永泰街道抢险队" in teams


def test_router_home_in_english(tree, settings, tmp_path, chinese_afterwards):
    from civicgrid.integrations.router import gazetteer, service

    settings.CIVICGRID_ROUTER_MODELS_DIR = str(tmp_path / "models")
    service.clear_cache()
    gazetteer.clear_cache()
    dispatcher = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"])
    html = in_english(dispatcher, "/router/")
    check(html,
          ("Smart routing", "Model in use", "Auto-dispatch threshold", "View the routing queue",
           "Retrain from closed cases", "No model version yet."),
          ("智能分拨", "启用的模型", "自动派遣阈值", "查看待分拨队列", "从已结案事件重新训练", "尚无模型版本"))
    triage = in_english(dispatcher, "/router/triage/")
    check(triage, ("Awaiting routing", "No reports awaiting routing."), ("待分拨", "没有待分拨的报告。"))
    service.clear_cache()
    gazetteer.clear_cache()


def test_chinese_again_after_the_english_tests(tree):
    """The fixture switched back: a page rendered after the English tests is Chinese."""
    assert translation.get_language() == settings.LANGUAGE_CODE
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    client = Client()
    client.force_login(staff)
    html = client.get("/hazards/").content.decode()
    assert 'lang="zh-hans"' in html and "隐患台账" in html and "Hazard ledger" not in html
