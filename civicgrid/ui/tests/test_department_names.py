"""A department is named one way for one kind of place: in full (Organisation.name) wherever there is room (the
case page, its dispatch form and routing note, the list's filter, a category's page, the evaluation's xlsx and
API), by its short name only in dense table columns (the case list's and the board's 处置部门, the evaluation
ranking, the triage table), there with the full name on hover."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import auth, close_loop, loop, report  # noqa: F401

pytestmark = pytest.mark.django_db
FULL, SHORT = "平城区城市管理局", "区城管局"
CELL = f'<span title="{FULL}">{SHORT}</span>'


@pytest.fixture
def named(loop):
    loop.dept.name, loop.dept.short_name = FULL, SHORT
    loop.dept.save()
    return loop


def _department_cells(html: str) -> list[str]:
    return re.findall(r"<td data-label=\"处置部门\">(.*?)</td>", html, re.S)


def test_dense_tables_show_the_short_name_with_the_full_one_on_hover(named, client_for):
    loop = named
    dispatched = act(actor=loop.dispatcher, case=act(actor=loop.dispatcher, case=report(loop), action="accept"),
                     action="dispatch", department=loop.dept.pk)
    report(loop, title="井盖缺失")  # not dispatched yet
    c = client_for(loop.dispatcher)
    cells = _department_cells(c.get(reverse("ui:case_list")).content.decode())
    assert sorted(cells) == sorted([CELL, "—"])
    Case.objects.filter(pk=dispatched.pk).update(is_overdue=True)  # the board names departments of late cases
    board = c.get(reverse("ui:board_lists"), HTTP_HX_REQUEST="true").content.decode()
    assert dispatched.number in board and CELL in _department_cells(board)
    close_loop(loop, dispatched)
    month = f"{timezone.localdate():%Y-%m}"
    ranking = client_for(loop.leader).get(reverse("ui:evaluation"), {"subject": "department", "month": month})
    row = re.search(rf'<tr data-subject="{loop.dept.pk}">(.*?)</tr>', ranking.content.decode(), re.S).group(1)
    assert CELL in row


def test_places_with_room_name_the_department_in_full(named, client_for, api_client):
    loop = named
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")  # routed by the category's default
    c = client_for(loop.dispatcher)
    page = c.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    form = re.search(r"<summary>派遣</summary>(.*?)</form>", page, re.S).group(1)
    assert f"派往 {FULL}</p>" in form  # the routing note
    assert re.search(rf'<option value="{loop.dept.pk}" selected>{FULL}</option>', form)
    listing = c.get(reverse("ui:case_list")).content.decode()
    assert re.search(rf'<option value="{loop.dept.pk}"[^>]*>{FULL}</option>', listing)  # the filter's choice
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    page = c.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert f"<dd data-department>{FULL}</dd>" in page
    category_page = c.get(reverse("ui:category_detail", args=[loop.cat.pk])).content.decode()
    assert f"<dd>{FULL}</dd>" in category_page  # its default department
    close_loop(loop, case)
    month = f"{timezone.localdate():%Y-%m}"
    sheet = openpyxl.load_workbook(io.BytesIO(client_for(loop.leader).get(
        reverse("ui:evaluation_export"), {"subject": "department", "month": month}).content)).active
    assert FULL in [cell.value for row in sheet.iter_rows() for cell in row]
    assert SHORT not in [cell.value for row in sheet.iter_rows() for cell in row]
    body = api_client.get("/api/v1/evaluation", {"subject": "department", "month": month},
                          **auth(loop.leader)).json()
    assert [i["name"] for i in body["items"] if i["key"] == str(loop.dept.pk)] == [FULL]


def test_the_triage_table_names_departments_short_with_the_full_name_on_hover(named, client_for):
    """待分拨 is a dense table: the model's department, its runners-up, the department the rules choose and a
    community matter's street office, each by its short name with the full one on hover."""
    from civicgrid.foundation.orgs.models import Organisation, OrgKind

    loop = named
    other_full, other_short = "平城区住房和城乡建设局", "区住建局"
    Organisation.objects.filter(pk=loop.other_dept.pk).update(name=other_full, short_name=other_short)
    office = Organisation.objects.create(code="JD-050", name="平城区新华街道办事处", short_name="新华街道办",
                                         kind=OrgKind.STREET_OFFICE, region=loop.tree["140213050"])
    routed = report(loop)  # its category's default department is loop.dept
    Case.objects.filter(pk=routed.pk).update(suggestion={
        "label": SHORT, "confidence": 0.4, "department_id": loop.dept.pk, "department": FULL, "local": False,
        "top3": [{"label": SHORT, "confidence": 0.4, "department_id": loop.dept.pk, "department": FULL},
                 {"label": other_short, "confidence": 0.3, "department_id": loop.other_dept.pk,
                  "department": other_full}]})
    local = report(loop, title="楼道堆物", category=None)
    Case.objects.filter(pk=local.pk).update(suggestion={"label": "社区居委会", "confidence": 0.3, "local": True,
                                                        "department_id": None, "department": None})

    html = client_for(loop.dispatcher).get(reverse("ui:router_triage"), {"all": "1"}).content.decode()
    rows = dict(re.findall(r'<tr data-oid="(\d+)">(.*?)</tr>', html, re.S))
    suggested = re.search(r'<td data-label="建议">(.*?)</td>', rows[str(routed.pk)], re.S).group(1)
    assert suggested.startswith(CELL)  # the model's department
    assert f"规则派往 {CELL}</span>" in suggested  # the rules' (the category's default)
    assert f'<span title="{other_full}">{other_short}</span> 30%' in suggested  # the runner-up
    assert (f'<span data-routed data-street-office>社区事项：预选所在街道的 <span title="{office.name}">'
            f"{office.short_name}</span>，由派遣员确认</span>") in rows[str(local.pk)]


def test_the_rule_pages_tables_name_departments_short_with_the_full_name_on_hover(named, client_for):
    """The category list's 默认处置部门, the rule tables' 处置部门 (the rules page, a category's page, the deleted
    rules), the open proposals' departments: short with the full name on hover; a deleted rule's own page has
    room and names it in full."""
    from civicgrid.apps.cases.models import RoutingProposal
    from civicgrid.apps.categories.services import create_rule, delete_rule

    loop = named
    GRID9 = "140213050"
    create_rule(actor=None, category=loop.cat, region_code=GRID9, department=loop.dept, note="街道专管")
    gone = create_rule(actor=None, category=loop.sibling, region_code=GRID9, department=loop.dept)
    delete_rule(actor=None, rule=gone)
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="send_back", reason="不归我们", correct_rule=True,
        proposed_department=loop.other_dept.pk)
    proposal = RoutingProposal.objects.get(case=case)
    c = client_for(loop.dispatcher)

    categories = c.get(reverse("ui:category_list")).content.decode()
    assert CELL in re.findall(r'<td data-label="默认处置部门">(.*?)</td>', categories, re.S)
    rules = c.get(reverse("ui:routing_rule_list")).content.decode()
    assert re.findall(r'<td data-label="处置部门">(.*?)</td>', rules, re.S) == [CELL]
    row = re.search(rf'<tr data-proposal="{proposal.pk}">(.*?)</tr>', rules, re.S).group(1)
    assert f"<td>{CELL}</td><td>{loop.other_dept.name}</td>" in row  # 退回部门, 建议部门 (no short name: as it is)
    detail = c.get(reverse("ui:category_detail", args=[loop.cat.pk])).content.decode()
    assert CELL in re.findall(r'<td data-label="处置部门">(.*?)</td>', detail, re.S)
    deleted = c.get(reverse("ui:routing_rule_list"), {"deleted": "1"}).content.decode()
    assert CELL in re.search(rf'<tr data-deleted-rule="{gone.pk}">(.*?)</tr>', deleted, re.S).group(1)
    page = c.get(reverse("ui:routing_rule_detail", args=[gone.pk])).content.decode()
    state = re.search(r'<dl class="fields" data-testid="rule-last-state">(.*?)</dl>', page, re.S).group(1)
    assert f"<dd>{FULL}</dd>" in state


def test_the_rule_pages_pass_departments_and_the_template_names_them(named, client_for):
    """The category list and the rules page hand their tables the organisation, not HTML made in the view: the
    shared list table names it (`org_cell`: short, the full name on hover, escaped), and leaves a category without
    a default department blank."""
    from civicgrid.apps.categories.models import Category
    from civicgrid.apps.categories.services import create_rule
    from civicgrid.foundation.orgs.models import Organisation

    loop = named
    loop.other_dept.name, loop.other_dept.short_name = "住建局<第二>&局", "住建<二>"
    loop.other_dept.save()
    create_rule(actor=None, category=loop.cat, region_code="140213050", department=loop.other_dept)
    Category.objects.filter(pk=loop.sibling.pk).update(default_department=None)
    c = client_for(loop.dispatcher)

    listing = c.get(reverse("ui:category_list"))
    cells = {row["obj"].pk: row["cells"][5] for row in listing.context["rows"]}
    assert cells[loop.cat.pk]["value"] == loop.dept and cells[loop.cat.pk]["org"] is True
    assert cells[loop.sibling.pk]["value"] == ""
    html = listing.content.decode()
    shown = dict(re.findall(r'<tr data-oid="(\d+)">.*?<td data-label="默认处置部门">(.*?)</td>', html, re.S))
    assert shown[str(loop.cat.pk)] == CELL and shown[str(loop.sibling.pk)] == ""

    rules = c.get(reverse("ui:routing_rule_list"))
    [row] = rules.context["rows"]
    assert isinstance(row["cells"][4]["value"], Organisation) and row["cells"][4]["value"] == loop.other_dept
    assert _department_cells(rules.content.decode()) == [
        '<span title="住建局&lt;第二&gt;&amp;局">住建&lt;二&gt;</span>']
