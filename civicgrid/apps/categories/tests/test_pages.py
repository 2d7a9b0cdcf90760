"""The administration pages: list by taxonomy, a category with its edit form and history, xlsx export and
import buttons, routing rules (list, new, correction from a send-back, edit, delete)."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from openpyxl import load_workbook

from civicgrid.apps.categories import services
from civicgrid.apps.categories.models import Category, RoutingRule
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin(loaded, manager):
    return client_for(manager)


@pytest.fixture
def worker(loaded, tree):
    return client_for(user_with(Role.GRID_WORKER, region=tree["140213050001001"]))


def garbage() -> Category:
    return Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="matter", code="06010")


def test_list_by_taxonomy(worker):
    page = worker.get("/categories/", {"taxonomy": "social"})
    text = page.content.decode()
    assert page.status_code == 200 and "积水内涝" in text and "暴露垃圾" not in text
    assert 'data-model="categories.category"' in text and "分拨规则" not in text  # no manager links
    gbt = worker.get("/categories/", {"taxonomy": "gbt47678_5_2026", "q": "垃圾", "kind": "matter"}).content.decode()
    assert "暴露垃圾" in gbt and "1 工作日" in gbt and "积水内涝" not in gbt


def test_detail_is_read_only_for_staff(worker):
    page = worker.get(f"/categories/{garbage().pk}/")
    assert page.status_code == 200 and "环卫作业单位" in page.content.decode()
    assert 'data-testid="category-form"' not in page.content.decode()
    before = AuditEntry.objects.count()
    assert worker.post(f"/categories/{garbage().pk}/", {"name": "x"}).status_code == 403
    assert AuditEntry.objects.count() == before


def test_edit_with_history(admin, departments):
    cat = garbage()
    form = {"name": cat.name, "time_limit_amount": "4", "time_limit_mode": "working_hours",
            "acceptance_condition": cat.acceptance_condition, "closure_condition": cat.closure_condition,
            "responsible_body": cat.responsible_body, "default_department": departments["区城管局"].pk,
            "keywords": cat.keywords, "is_public": "on", "in_public_feed": "on", "is_active": "on"}
    response = admin.post(f"/categories/{cat.pk}/", form)
    assert response.status_code == 302
    cat.refresh_from_db()
    assert cat.time_limit_text == "4 工作小时" and cat.edited_at is not None and cat.in_public_feed
    page = admin.get(f"/categories/{cat.pk}/").content.decode()
    assert 'data-testid="category-form"' in page and "变更记录" in page and "修改" in page
    assert "工作日" in page and "工作小时" in page  # the change shown before → after
    bad = admin.post(f"/categories/{cat.pk}/", {**form, "time_limit_amount": "0"})
    assert bad.status_code == 400 and "error" in bad.content.decode()
    cat.refresh_from_db()
    assert cat.time_limit_text == "4 工作小时"
    before = AuditEntry.objects.count()
    too_long = admin.post(f"/categories/{cat.pk}/", {**form, "time_limit_amount": "9999.99",
                                                     "time_limit_mode": "working_days"})
    assert too_long.status_code == 400 and "不超过 250 工作日" in too_long.content.decode()
    assert "工作日最多 250" in too_long.content.decode()  # the form states every unit's range beforehand
    cat.refresh_from_db()
    assert cat.time_limit_text == "4 工作小时" and AuditEntry.objects.count() == before


def test_the_form_says_a_limit_change_reaches_only_the_handling_timed_afterwards(admin):
    page = admin.get(f"/categories/{garbage().pk}/").content.decode()
    notice = page.split("data-limit-notice>", 1)[1].split("</p>", 1)[0]
    assert "只对此后开始计时的处置生效" in notice and "正在办理的案件保持原处置期限" in notice


def test_the_feed_flag_is_shown_and_edited_apart_from_public_reports(admin, worker):
    """养老服务: open to public reports, not published by Open311; an administrator may change either flag."""
    elderly = Category.objects.get(taxonomy__code="social", code="0402")
    assert elderly.is_public and not elderly.in_public_feed
    shown = worker.get(f"/categories/{elderly.pk}/").content.decode()
    assert "公开到开放接口" in shown and "<dd data-in-public-feed>否</dd>" in shown
    listed = worker.get("/categories/", {"taxonomy": "social", "q": "养老"}).content.decode()
    assert "公开到开放接口" in listed
    page = admin.get(f"/categories/{elderly.pk}/").content.decode()
    assert 'name="in_public_feed"' in page and 'name="is_public"' in page
    form = {"name": elderly.name, "time_limit_amount": "5", "time_limit_mode": "working_days",
            "acceptance_condition": elderly.acceptance_condition, "closure_condition": elderly.closure_condition,
            "responsible_body": elderly.responsible_body, "default_department": elderly.default_department_id or "",
            "keywords": elderly.keywords, "is_public": "on", "in_public_feed": "on", "is_active": "on"}
    assert admin.post(f"/categories/{elderly.pk}/", form).status_code == 302
    elderly.refresh_from_db()
    assert elderly.is_public and elderly.in_public_feed and elderly.edited_at is not None
    entry = AuditEntry.objects.filter(target_type="categories.category", target_id=str(elderly.pk)).latest("id")
    assert (entry.before["in_public_feed"], entry.after["in_public_feed"]) == (False, True)
    assert entry.before["is_public"] is entry.after["is_public"] is True
    assert "公开到开放接口" in admin.get(f"/categories/{elderly.pk}/").content.decode().split("变更记录", 1)[1]
    del form["in_public_feed"]  # unticked: out of the feed again, still open to reports
    assert admin.post(f"/categories/{elderly.pk}/", form).status_code == 302
    elderly.refresh_from_db()
    assert elderly.is_public and not elderly.in_public_feed


def test_export_button_downloads_the_taxonomy(worker):
    response = worker.get("/categories/export.xlsx", {"taxonomy": "social"})
    assert response.status_code == 200 and "social" in response["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(response.content), read_only=True).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("分类体系", "编码", "名称") and len(rows) == 1 + 59


def test_import_page(admin, worker):
    assert worker.get("/categories/import/").status_code == 403
    assert admin.get("/categories/import/").status_code == 200
    exported = admin.get("/categories/export.xlsx", {"taxonomy": "social"}).content
    book = load_workbook(io.BytesIO(exported))
    sheet = book.active
    for row in sheet.iter_rows(min_row=2):
        if row[1].value == "0702":
            row[6].value = 8
            row[7].value = "工作时"
        if row[1].value == "0703":
            row[3].value = "99"
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    buffer.name = "social.xlsx"
    refused = admin.post("/categories/import/", {"file": buffer})
    assert refused.status_code == 400 and "上级编码" in refused.content.decode()
    assert Category.objects.get(taxonomy__code="social", code="0702").time_limit_text == "1 工作日"
    for row in sheet.iter_rows(min_row=2):
        if row[1].value == "0703":
            row[3].value = "07"
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    buffer.name = "social.xlsx"
    assert admin.post("/categories/import/", {"file": buffer}).status_code == 302
    assert Category.objects.get(taxonomy__code="social", code="0702").time_limit_text == "8 工作小时"


def test_rules_pages(admin, worker, departments):
    assert worker.get("/categories/rules/").status_code == 403
    page = admin.get("/categories/rules/", {"kind": "patron"}).content.decode()
    assert page.count("data-oid=") == 18 and "区自然资源局" in page
    cat = garbage()
    response = admin.post("/categories/rules/new/", {"category": cat.pk, "region_code": "140213050",
                                                     "department": departments["区水务局"].pk, "kind": "routing",
                                                     "priority": 0, "is_active": "on", "note": "试点"})
    assert response.status_code == 302
    rule = RoutingRule.objects.get(category=cat)
    assert services.resolve_department(cat, "140213050001001") == departments["区水务局"]
    bad = admin.post("/categories/rules/new/", {"category": cat.pk, "region_code": "140213999",
                                                "department": departments["区水务局"].pk, "kind": "routing",
                                                "priority": 0})
    assert bad.status_code == 400 and "不存在" in bad.content.decode()
    edit = admin.post(f"/categories/rules/{rule.pk}/", {"category": cat.pk, "region_code": "140213050",
                                                         "department": departments["区住建局"].pk, "kind": "routing",
                                                         "priority": 2, "is_active": "on", "note": "改派"})
    assert edit.status_code == 302
    page = admin.get(f"/categories/rules/{rule.pk}/").content.decode()
    assert "变更记录" in page and "改派" in page
    assert admin.post(f"/categories/rules/{rule.pk}/", {"delete": "1", "confirm": "1"}).status_code == 302
    assert not RoutingRule.objects.filter(pk=rule.pk).exists()


def test_correction_from_a_send_back(admin, departments):
    cat = garbage()
    url = (f"/categories/rules/new/?correct=1&category={cat.pk}&region_code=140213050001"
           f"&department={departments['区住建局'].pk}&reference=PC0001")
    page = admin.get(url)
    assert page.status_code == 200 and "根据退回更正" in page.content.decode()
    response = admin.post(url, {"category": cat.pk, "region_code": "140213050001",
                                "department": departments["区住建局"].pk, "kind": "routing", "priority": 0,
                                "is_active": "on", "note": "城管局退回"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=services.RULE_CORRECTED)
    assert entry.data == {"reference": "PC0001"}
    assert services.resolve_department(cat, "140213050001001") == departments["区住建局"]


def test_the_menu_shows_categories_to_staff(worker):
    assert 'data-nav="categories"' in worker.get("/").content.decode()


def test_history_names_references_and_shows_local_times_to_the_system_administrator(loaded, tree, departments):
    """The system administrator manages categories but reads no region's data: the history still names the
    departments and the category the page itself names, shows times as local minutes, and hides bookkeeping."""
    from django.utils import timezone

    admin = client_for(user_with(Role.SYSTEM_ADMIN))
    cat = garbage()
    services.update_category(actor=None, category=cat, default_department=departments["区水务局"])
    services.update_category(actor=None, category=cat, default_department=departments["区城管局"])
    edited = Category.objects.get(pk=cat.pk).edited_at
    rule = services.create_rule(actor=None, category=cat, region_code="140213050",
                                department=departments["区住建局"])
    page = admin.get(f"/categories/{cat.pk}/").content.decode()
    history = page[page.index('id="history"'):]
    assert "平城区水务局" in history and "平城区城管局" in history
    assert f"#{departments['区水务局'].pk}" not in history
    local = timezone.localtime(edited).strftime("%Y-%m-%d %H:%M")
    assert local in history and edited.isoformat() not in history and "+00:00" not in history
    rule_page = admin.get(f"/categories/rules/{rule.pk}/").content.decode()
    rule_history = rule_page[rule_page.index('id="history"'):]
    assert cat.name in rule_history and "平城区住建局" in rule_history
    assert f"#{cat.pk}" not in rule_history and f"#{departments['区住建局'].pk}" not in rule_history


@pytest.fixture
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    from django.conf import settings
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


def _upload(client, body: bytes, name: str = "social.xlsx"):
    buffer = io.BytesIO(body)
    buffer.name = name
    return client.post("/categories/import/", {"file": buffer})


def _with_limit(admin, value) -> bytes:
    book = load_workbook(io.BytesIO(admin.get("/categories/export.xlsx", {"taxonomy": "social"}).content))
    for row in book.active.iter_rows(min_row=2):
        if row[1].value == "0702":
            row[6].value = value
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _error_rows(page: str) -> list[str]:
    table = page.split('data-testid="import-errors"', 1)[1].split("</table>", 1)[0]
    return table.split("<tbody>", 1)[1].split("</tr>")[:-1]


def test_import_errors_and_summary_in_the_readers_language(admin, chinese_afterwards):
    bad = _with_limit(admin, "三天")
    page = _upload(admin, bad).content.decode()
    (row,) = _error_rows(page)
    assert "处置时限须为数字：「三天」" in row and "must be a number" not in row and "'三天'" not in row
    # A file that is not a table at all: the whole file is at fault, not a row "0".
    page = _upload(admin, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old", "old.xls").content.decode()
    (row,) = _error_rows(page)
    assert ">整个文件<" in row and ">0<" not in row and " / " not in row

    assert admin.post("/i18n/setlang/", {"language": "en", "next": "/categories/import/"}).status_code == 302
    page = _upload(admin, bad).content.decode()
    head = page.split('data-testid="import-errors"', 1)[1].split("</thead>", 1)[0]
    assert ">Row<" in head and ">rows<" not in head
    (row,) = _error_rows(page)
    assert "the time limit must be a number" in row and "三天" in row and "处置时限须为数字" not in row
    done = _upload(admin, _with_limit(admin, 2), "social.xlsx")
    assert done.status_code == 302
    page = admin.get(done["Location"]).content.decode()
    messages = page.split('<ul class="messages">', 1)[1].split("</ul>", 1)[0]
    assert "59 rows: 0 created, 1 changed, 58 unchanged" in messages and "新建" not in messages
