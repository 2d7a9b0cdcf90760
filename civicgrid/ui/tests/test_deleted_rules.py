"""Those who manage routing rules still find a deleted rule: its page shows its last state and history, the
rules page lists it under 已删除, and a case timeline's 「规则 #21」 links there. The rule table exports as xlsx."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from django.urls import reverse

from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import GRID, loop, report  # noqa: F401
from civicgrid.apps.categories.services import create_rule, delete_rule, update_rule
from civicgrid.foundation.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_a_deleted_rule_keeps_its_page_and_history_for_rule_managers(loop, client_for):
    rule = create_rule(actor=loop.dispatcher, category=loop.cat, region_code=GRID[:9], department=loop.other_dept,
                       note="街道专管")
    rule = update_rule(actor=loop.dispatcher, rule=rule, priority=5)
    pk = rule.pk
    delete_rule(actor=loop.dispatcher, rule=rule)
    c = client_for(loop.dispatcher)
    html = c.get(reverse("ui:routing_rule_detail", args=[pk])).content.decode()
    assert "data-rule-deleted" in html
    state = re.search(r'<dl class="fields" data-testid="rule-last-state">(.*?)</dl>', html, re.S).group(1)
    assert "暴露垃圾" in state and GRID[:9] in state and "区住建局" in state and "街道专管" in state
    assert "<dd>5</dd>" in state
    history = re.search(r'<section class="card history" id="history">(.*?)</section>', html, re.S).group(1)
    assert history.count("<li") >= 3  # created, changed, deleted

    listed = c.get(reverse("ui:routing_rule_list") + "?deleted=1").content.decode()
    assert f'data-deleted-rule="{pk}"' in listed
    assert f'data-deleted-rule="{pk}"' not in c.get(reverse("ui:routing_rule_list")).content.decode()
    # others do not manage rules: no page, whether the rule lives or not; an id never used is a plain 404
    assert client_for(loop.street_dispatcher).get(reverse("ui:routing_rule_detail", args=[pk])).status_code == 403
    assert c.get(reverse("ui:routing_rule_detail", args=[pk + 1000])).status_code == 404


def test_timeline_rule_numbers_link_for_rule_managers_only(loop, client_for):
    rule = create_rule(actor=None, category=loop.cat, region_code=GRID[:9], department=loop.dept)
    case = act(actor=loop.dispatcher, case=report(loop), action="accept", note=f"按分拨规则 #{rule.pk}派往 区城管局")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk, correct_rule=True)
    delete_rule(actor=None, rule=rule)
    url = reverse("ui:case_detail", args=[case.number])
    html = client_for(loop.dispatcher).get(url).content.decode()
    assert html.count(f'data-rule-link="{rule.pk}"') == 2  # the accept's note and the dispatch's correction
    href = re.search(rf'<a href="([^"]+)" data-rule-link="{rule.pk}">', html).group(1)
    assert "data-rule-deleted" in client_for(loop.dispatcher).get(href).content.decode()
    assert "data-rule-link" not in client_for(loop.street_dispatcher).get(url).content.decode()


def test_the_rule_table_exports_as_xlsx(loop, client_for):
    create_rule(actor=None, category=loop.cat, region_code=GRID[:9], department=loop.other_dept, note="街道专管")
    create_rule(actor=None, category=None, region_code="140213", department=loop.dept, priority=-1)
    response = client_for(loop.dispatcher).get(reverse("ui:routing_rule_export"))
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content
                                                       if response.streaming else [response.content]))).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert sheet.title == "分拨规则" and rows[0][:6] == ["编号", "规则类型", "分类体系", "分类编码", "分类名称", "区域代码"]
    by_region = {r[5]: r for r in rows[1:]}
    assert by_region["140213"][4] == "任意分类" and by_region["140213"][7] == "区城管局" and by_region["140213"][8] == -1
    assert by_region[GRID[:9]][3] == "06001" and by_region[GRID[:9]][7] == "区住建局"
    assert by_region[GRID[:9]][10] == "街道专管" and by_region[GRID[:9]][9] == "是"
    assert AuditEntry.objects.filter(action="data.exported", target_type="categories.routingrule").count() == 1
    # a street dispatcher does not manage rules: refused, and nothing exported
    assert client_for(loop.street_dispatcher).get(reverse("ui:routing_rule_export")).status_code == 403
    assert AuditEntry.objects.filter(action="data.exported", target_type="categories.routingrule").count() == 1
