"""The teams roster (抢险队伍名册) and the incidents ledger (险情处置台账) as xlsx in the office layout: title,
填报单位/日期, 序号 and the headers, one row per team or incident with its street and 包保 department, the footer
to sign; from the pages (a link on each list) and the API, with the lists' filters and scope; audited; a refusal
exports and records nothing; a fixed number of queries whatever the number of rows."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from civicgrid.apps.hazards.models import PatronAssignment
from civicgrid.apps.rescue import services, xlsx
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.downloads import XLSX_TYPE
from civicgrid.foundation.orgs.models import Organisation, OrgKind

from .conftest import OTHER_STREET_POINT, POINT, auth

pytestmark = pytest.mark.django_db

REPORT = {"summary": "下穿通道积水 0.8 米，两车被困", "actions": "冲锋舟转移 3 人，水泵排水", "losses": "无人员伤亡",
          "lessons": "提前封闭下穿通道"}


def _dept(tree, code, name):
    return Organisation.objects.create(code=code, name=name, kind=OrgKind.DEPARTMENT, region=tree["140213"])


@pytest.fixture
def ledger(world):
    """包保: 永泰街道 flood 区水务局 and safety 区应急管理局; 古城街道 safety 区住建局 only. A flood incident in 永泰
    with two teams called out and closed with its report; a gas leak in 永泰; a house incident in 古城."""
    tree = world.tree
    PatronAssignment(department=_dept(tree, "140213-SWJ", "区水务局"), street=tree["140213050"], kind="flood").save()
    PatronAssignment(department=_dept(tree, "140213-YJJ", "区应急管理局"), street=tree["140213050"],
                     kind="safety").save()
    PatronAssignment(department=_dept(tree, "140213-ZJJ", "区住建局"), street=tree["140213051"], kind="safety").save()
    flood = services.raise_incident(actor=world.command, hazard=world.hazard.pk)
    services.call_out(actor=world.command, incident=flood, teams=[world.brigade.pk, world.street_team.pk],
                      task="转移被困人员")
    flood = services.close_incident(actor=world.command, incident=flood, **REPORT)
    gas = services.raise_incident(actor=world.command, lng=POINT[0], lat=POINT[1], title="=燃气管道泄漏", kind="gas")
    other = services.raise_incident(actor=world.command, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1],
                                    title="房屋墙体开裂", kind="house")
    return flood, gas, other


def signed_in(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def sheet(response) -> list[list]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == XLSX_TYPE
    assert response["Content-Disposition"].startswith('attachment; filename="rescue-')
    book = load_workbook(io.BytesIO(response.content))
    return [list(r) for r in book.active.iter_rows(values_only=True)]


def body_rows(rows: list[list], which: str) -> list[dict]:
    """The data rows as header → value, after checking the office layout around them."""
    assert "填报单位（盖章）：平城区" in str(rows[1][0]) and str(rows[1][len(rows[1]) // 2]).startswith("填报日期：")
    assert rows[2] == xlsx.headers(which)
    assert rows[-1][0] == "填表人：" and "审核人：" in rows[-1] and "联系电话：" in rows[-1]
    data = [dict(zip(rows[2], r, strict=True)) for r in rows[3:-2]]
    assert [r["序号"] for r in data] == list(range(1, len(data) + 1))
    assert rows[-2] == [None] * len(rows[2]) or not any(rows[-2])  # the blank line before the footer
    return data


def test_the_teams_roster_names_members_skills_equipment_street_and_patron(world, ledger):
    exported = AuditEntry.objects.filter(action="data.exported").count()
    rows = sheet(signed_in(world.command).get("/rescue/teams/export.xlsx"))
    assert rows[0][0] == "平城区抢险队伍名册"
    by_code = {r["队伍编号"]: r for r in body_rows(rows, "teams")}
    assert set(by_code) == {"RT-XFJY", "RT-050", "RT-051"}
    brigade, street, other = by_code["RT-XFJY"], by_code["RT-050"], by_code["RT-051"]
    assert (brigade["队伍名称"], brigade["队伍类型"], brigade["所属单位"]) == ("区消防救援大队", "主力队伍",
                                                                              "平城区消防救援大队")
    assert (brigade["编制人数"], brigade["在队队员"]) == (40, 1)
    assert brigade["技能"] == "排涝、水上救援" and brigade["装备"] == "冲锋舟 2艘"
    assert brigade["所在街道"] is None and brigade["包保部门"] is None  # a district team: no street
    assert brigade["联系电话"] != "13912345678" and "****" in brigade["联系电话"]
    assert (street["所在街道"], street["包保部门"], street["技能"]) == ("永泰街道", "区水务局", "电工")  # flood first
    assert (other["所在街道"], other["包保部门"]) == ("古城街道", "区住建局")  # its only 包保 department
    # the flood call-out took two teams out; closing it released them
    assert (brigade["状态"], street["状态"], other["状态"]) == ("待命", "待命", "待命")
    entry = AuditEntry.objects.filter(action="data.exported").latest("id")
    assert AuditEntry.objects.filter(action="data.exported").count() == exported + 1
    assert (entry.target_type, entry.data["list"], entry.data["rows"]) == ("rescue.rescueteam", "teams", 3)


def test_the_incidents_ledger_has_source_street_status_callouts_times_and_report(world, ledger, client):
    flood, gas, other = ledger
    rows = sheet(client.get("/api/v1/rescue/incidents/export.xlsx", **auth(world.command)))
    assert rows[0][0].startswith("平城区") and rows[0][0].endswith("年险情处置台账")
    data = body_rows(rows, "incidents")
    assert [r["险情编号"] for r in data] == [other.code, gas.code, flood.code]  # as the list: newest first
    by_code = {r["险情编号"]: r for r in data}
    f = by_code[flood.code]
    assert (f["来源"], f["所在街道"], f["包保部门"], f["状态"], f["调派队伍次数"]) == (
        "隐患点", "永泰街道", "区水务局", "已结束", 2)
    assert f["报告时间"] and f["结束时间"] and f["结束时间"] >= f["报告时间"]
    assert [f[k] for k in ("险情经过", "处置措施", "损失情况", "经验教训")] == list(REPORT.values())
    g = by_code[gas.code]
    assert (g["标题"], g["来源"], g["包保部门"], g["状态"], g["调派队伍次数"], g["结束时间"]) == (
        "=燃气管道泄漏", "直接登记", "区应急管理局", "已报告", 0, None)  # text, never a formula
    assert (by_code[other.code]["所在街道"], by_code[other.code]["包保部门"]) == ("古城街道", "区住建局")
    # the list's filters apply
    closed = body_rows(sheet(client.get("/api/v1/rescue/incidents/export.xlsx?status=closed",
                                        **auth(world.command))), "incidents")
    assert [r["险情编号"] for r in closed] == [flood.code]


def test_a_user_out_of_scope_gets_only_their_rows(world, ledger, client):
    flood, gas, other = ledger
    mine = body_rows(sheet(client.get("/api/v1/rescue/incidents/export.xlsx", **auth(world.other_street))),
                     "incidents")
    assert [r["险情编号"] for r in mine] == [other.code]
    page = body_rows(sheet(signed_in(world.other_street).get("/rescue/export.xlsx?status=all")), "incidents")
    assert [r["险情编号"] for r in page] == [other.code]
    teams = body_rows(sheet(signed_in(world.other_street).get("/rescue/teams/export.xlsx")), "teams")
    assert {r["队伍编号"] for r in teams} == {"RT-XFJY", "RT-051"}  # the district's brigade and their own team
    api_teams = body_rows(sheet(client.get("/api/v1/rescue/teams/export.xlsx?skill=water_rescue",
                                           **auth(world.other_street))), "teams")
    assert [r["队伍编号"] for r in api_teams] == ["RT-XFJY"]


def test_without_rescue_view_nothing_is_exported_or_recorded(world, ledger, client):
    before = AuditEntry.objects.filter(action="data.exported").count()
    r = client.get("/api/v1/rescue/teams/export.xlsx", **auth(world.resident))
    assert r.status_code == 403 and "spreadsheet" not in r.get("Content-Type", "")
    assert signed_in(world.resident).get("/rescue/export.xlsx").status_code == 403
    assert AuditEntry.objects.filter(action="data.exported").count() == before


def test_the_lists_link_to_their_exports_with_their_filters(world, ledger):
    c = signed_in(world.street)
    teams = c.get("/rescue/teams/?skill=electrician&page=1").content.decode()
    assert 'href="/rescue/teams/export.xlsx?skill=electrician"' in teams and 'data-export="teams"' in teams
    incidents = c.get("/rescue/?status=closed").content.decode()
    assert 'href="/rescue/export.xlsx?status=closed"' in incidents and 'data-export="incidents"' in incidents
    only = body_rows(sheet(c.get("/rescue/teams/export.xlsx?skill=electrician")), "teams")
    assert [r["队伍编号"] for r in only] == ["RT-050"]


def test_an_export_takes_as_many_queries_for_many_rows_as_for_few(world, ledger, client):
    headers = auth(world.command)
    client.get("/api/v1/rescue/teams", **headers)  # the token's first use is written once

    def queries(url) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            rows = body_rows(sheet(client.get(url, **headers)), "incidents" if "incidents" in url else "teams")
        return len(ctx.captured_queries), len(rows)

    few = {url: queries(url) for url in ("/api/v1/rescue/teams/export.xlsx", "/api/v1/rescue/incidents/export.xlsx")}
    for n in range(4):
        team = services.create_team(actor=world.command, region_code="140213050", code=f"RT-X{n}", name=f"队{n}",
                                    kind="social", leader_name="孙", leader_phone=f"1390000000{n}", headcount=3,
                                    equipment=[{"name": "水泵", "quantity": 1, "unit": "台"}])
        services.add_member(actor=world.command, team=team, name=f"队员{n}", phone=f"1380000000{n}",
                            skills=["drainage"])
        incident = services.raise_incident(actor=world.command, lng=POINT[0], lat=POINT[1], title=f"积水{n}",
                                           kind="waterlogging")
        services.call_out(actor=world.command, incident=incident, teams=[team.pk])
    many = {url: queries(url) for url in few}
    assert {u: n for u, (n, _) in few.items()} == {u: n for u, (n, _) in many.items()}
    assert [rows for _, rows in few.values()] == [3, 3] and [rows for _, rows in many.values()] == [7, 7]
