"""The case file (PDF) and the ledger (xlsx) say of a case's deadline and its 退回 what the case page says: a 挂账
case's 处置期限 is paused (it printed as a plain deadline, past and not 超期, with no word of the pause), a deadline
reckoned on a provisional calendar year is marked 按临时日历推算, a 退回's row names the department it proposed and
the rule correction; and the ledger's header filters its columns and stays in view."""

# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from pypdf import PdfReader

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import loop, report  # noqa: F401
from civicgrid.apps.cases_documents import ledger
from civicgrid.foundation.sla import services as sla

pytestmark = pytest.mark.django_db
PROVISIONAL = "按临时日历推算"


def _dispatched(loop, days: str | None = None, mode: str = "working_days") -> Case:
    """A case dispatched to 区城管局; with `days`, in a category whose handling limit is that many (of `mode`)."""
    category = loop.cat
    if days is not None:
        loop.sibling.time_limit_amount, loop.sibling.time_limit_mode = Decimal(days), mode
        loop.sibling.save()
        category = loop.sibling
    case = report(loop, category=category.pk)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def _flat(text: str) -> str:
    """Extracted text without the line breaks and spaces the layout put in."""
    return text.replace("\n", "").replace(" ", "")


def _pdf(client, case) -> str:
    response = client.get(f"/documents/cases/{case.number}.pdf")
    assert response.status_code == 200
    return _flat("".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages))


def _page(client, case) -> str:
    return client.get(reverse("ui:case_detail", args=[case.number])).content.decode()


def _ledger(client):
    response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200
    return load_workbook(io.BytesIO(response.content)).active


def _lines(client) -> dict[str, dict]:
    rows = list(_ledger(client).iter_rows(values_only=True))
    assert rows[0] == tuple(ledger.HEADERS)
    return {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}


def _local(at):
    return timezone.localtime(at).replace(tzinfo=None, second=0, microsecond=0)


def test_a_suspended_cases_deadline_is_paused_in_its_file_and_ledger_line(loop, client):
    case = act(actor=loop.leader, case=_dispatched(loop), action="suspend", reason="等待专项资金")
    # the tester's case: the original deadline has passed while the case waited (its clock paused: not 超期)
    Case.objects.filter(pk=case.pk).update(deadline=timezone.now() - timedelta(days=3))
    case.refresh_from_db()
    running = _dispatched(loop)
    deadline = f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
    client.force_login(loop.dispatcher)
    said = f"原期限 {deadline}，恢复办理后按暂停时长顺延"
    assert said in _page(client, case)  # what the page says, the file says
    text = _pdf(client, case)
    assert _flat(f"已暂停（挂账） {said}") in text, text
    assert "超期否" in text
    assert "已暂停" not in _pdf(client, running)

    lines = _lines(client)
    assert lines[case.number]["处置期限说明"] == "已暂停（挂账）：此为原期限，恢复办理后按暂停时长顺延"
    assert lines[case.number]["处置期限"].replace(second=0, microsecond=0) == _local(case.deadline)
    assert lines[case.number]["状态"] == "挂账" and lines[case.number]["超期"] == "否"
    assert lines[running.number]["处置期限说明"] is None

    # resumed: a deadline again, moved on by the pause, with nothing said beside it
    case = act(actor=loop.leader, case=case, action="unsuspend")
    text = _pdf(client, case)
    assert "已暂停" not in text and _flat(f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}") in text
    assert _lines(client)[case.number]["处置期限说明"] is None


def test_a_deadline_on_the_provisional_calendar_is_marked_in_the_file_and_ledger_line(loop, client, fresh_calendar):
    far = _dispatched(loop, "250")  # about a year ahead: past the last announced year
    if far.deadline.date() <= sla.get_calendar().covered_until():
        pytest.skip("chinese_calendar already covers the year of a 250-working-day deadline")
    near = _dispatched(loop, "1")
    natural = _dispatched(loop, "8760", "natural_hours")  # a year of natural hours: no calendar is counted
    client.force_login(loop.dispatcher)
    assert PROVISIONAL in _page(client, far)  # the page marks it
    assert _flat(f"{timezone.localtime(far.deadline):%Y-%m-%d %H:%M}（{PROVISIONAL}）") in _pdf(client, far)
    for unmarked in (near, natural):
        assert PROVISIONAL not in _page(client, unmarked) and PROVISIONAL not in _pdf(client, unmarked)
    lines = _lines(client)
    assert lines[far.number]["处置期限说明"] == PROVISIONAL
    assert lines[far.number]["处置期限"].replace(second=0, microsecond=0) == _local(far.deadline)
    assert lines[near.number]["处置期限说明"] is None and lines[natural.number]["处置期限说明"] is None

    # suspended, the pause is what the page says (not the calendar); resumed, the mark is back
    far = act(actor=loop.leader, case=far, action="suspend", reason="等待专项资金")
    assert PROVISIONAL not in _pdf(client, far) and "已暂停（挂账）" in _pdf(client, far)
    assert _lines(client)[far.number]["处置期限说明"].startswith("已暂停（挂账）")
    far = act(actor=loop.leader, case=far, action="unsuspend")
    assert PROVISIONAL in _pdf(client, far) and _lines(client)[far.number]["处置期限说明"] == PROVISIONAL

    # handled, the deadline is done with: no mark, as on the page
    handled = act(actor=loop.handler, case=far, action="report_back", note="已清理")
    assert PROVISIONAL not in _page(client, handled) and PROVISIONAL not in _pdf(client, handled)
    assert _lines(client)[handled.number]["处置期限说明"] is None

    # once the administrator has entered and confirmed the year, the deadline is final
    other = _dispatched(loop, "250")
    sla.confirm_year(actor=None, year=other.deadline.year, confirmed=True)
    assert PROVISIONAL not in _pdf(client, other) and _lines(client)[other.number]["处置期限说明"] is None


def test_a_send_back_row_names_the_department_and_the_rule_correction_it_proposed(loop, client):
    proposed = act(actor=loop.handler, case=_dispatched(loop), action="send_back", reason="路灯归住建管",
                   correct_rule=True, proposed_department=loop.other_dept.pk)
    rule_only = act(actor=loop.handler, case=_dispatched(loop), action="send_back", reason="分类有误",
                    correct_rule=True)
    plain = act(actor=loop.handler, case=_dispatched(loop), action="send_back", reason="不属本部门职责")
    client.force_login(loop.dispatcher)
    said = "建议改派「区住建局」，并建议更正分拨规则"
    assert said in _page(client, proposed)  # what the page's timeline says, the file's 退回 row says
    text = _pdf(client, proposed)
    assert _flat(f"路灯归住建管{said}") in text, text  # the reason, then the proposal, in the row's 说明
    text = _pdf(client, rule_only)
    assert "分类有误退回时建议更正分拨规则" in text and "建议改派" not in text
    text = _pdf(client, plain)
    assert "不属本部门职责" in text and "建议" not in text

    # an official record: in Chinese whatever the exporter's interface language
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert _flat(said) in _pdf(client, proposed)


def test_the_ledgers_header_filters_every_column_and_stays_in_view(loop, client):
    cases = [_dispatched(loop) for _ in range(3)]
    client.force_login(loop.dispatcher)
    sheet = _ledger(client)
    assert sheet.max_row == len(cases) + 1
    assert sheet.auto_filter.ref == f"A1:{get_column_letter(len(ledger.HEADERS))}{len(cases) + 1}"
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == ledger.HEADERS
