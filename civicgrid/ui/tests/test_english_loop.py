"""The grid-event loop walked in English: the language chosen outlives the browser session; a typed value never
garbles a bilingual message; the note fields and their required-field message use the form's own label; every
refused hotline input says why; dates on the case's time limits and the board carry the year where a short date
could be misread, and a paused clock says so without a percentage; the Chinese-only downloads say they are.
The Chinese pages read as before."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import POINT, loop, report, world_counts  # noqa: F401
from civicgrid.foundation.sla import services as sla
from civicgrid.ui.templatetags.civicgrid_ui import short_time_filter
from civicgrid.ui.tests.test_cases_pages import _at, post_action

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def signed_in(user, language: str = "zh-hans") -> Client:
    c = Client()
    c.force_login(user)
    if language != "zh-hans":
        assert c.post("/i18n/setlang/", {"language": language, "next": "/"}).status_code == 302
    return c


def page(client, case) -> str:
    return client.get(reverse("ui:case_detail", args=[case.number])).content.decode()


def error_of(html: str) -> str:
    return re.search(r"data-error>(.*?)</p>", html, re.S).group(1)


def test_the_language_chosen_is_kept_for_a_year(loop):
    c = Client()
    c.force_login(loop.dispatcher)
    response = c.post("/i18n/setlang/", {"language": "en", "next": "/"})
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en" and cookie["max-age"] == 365 * 24 * 60 * 60 and cookie["samesite"] == "Lax"
    assert "Max-Age=31536000" in cookie.output()


@pytest.mark.parametrize("typed", ["C2026 / 12", "「X / Y", '"a / b"'])
def test_a_typed_parent_number_never_splits_the_merge_message(loop, typed):
    case = report(loop)
    before = world_counts()
    chinese = post_action(signed_in(loop.dispatcher), case, "merge", parent=typed, confirm="1")
    english = post_action(signed_in(loop.dispatcher, "en"), case, "merge", parent=typed, confirm="1")
    assert chinese.status_code == english.status_code == 400 and world_counts() == before
    zh, en = error_of(chinese.content.decode()), error_of(english.content.decode())
    shown = re.sub(r"\s+/", "/", typed.replace("「", "").replace('"', ""))
    assert zh == f"主案卷不存在或不在您的范围内：「{shown}」"
    assert en == f"parent case &quot;{shown}&quot; not found or not in your scope"


def test_a_typed_department_or_status_is_quoted_in_both_halves(loop):
    from civicgrid.apps.cases.selectors import CaseFilter, case_list
    from civicgrid.foundation.core.bilingual import halves
    from civicgrid.foundation.core.errors import ValidationFailed

    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    with pytest.raises(ValidationFailed) as refused:
        act(actor=loop.dispatcher, case=case, action="dispatch", department="区城管局 / 二队")
    assert halves(refused.value.message) == ("未知的处置部门：「区城管局/ 二队」", 'unknown department "区城管局/ 二队"')
    with pytest.raises(ValidationFailed) as refused:
        case_list(loop.dispatcher, CaseFilter(status="open / 已结案"))
    assert halves(refused.value.message) == ("未知的状态：「open/ 已结案」", 'unknown status "open/ 已结案"')


def test_the_note_is_labelled_note_in_english_and_说明_in_chinese(loop):
    case = _at(loop, "handled")

    def note_label(html: str, action: str) -> str:
        block = re.search(rf'<form [^>]*data-action-form="{action}">(.*?)</form>', html, re.S).group(1)
        return re.search(r'<label[^>]*>([^<]*)(?:<[^>]*>)*\s*<textarea[^>]*name="note"', block).group(1).strip()

    zh, en = page(signed_in(loop.leader), case), page(signed_in(loop.leader, "en"), case)
    assert note_label(zh, "supervise").startswith("说明") and note_label(en, "supervise").startswith("Note")
    assert "Description" not in note_label(en, "supervise")


def test_an_empty_report_back_names_the_field_as_the_form_labels_it(loop):
    case = _at(loop, "dispatched")
    before = world_counts()
    chinese = post_action(signed_in(loop.handler), case, "report_back", note="  ")
    english = post_action(signed_in(loop.handler, "en"), case, "report_back", note="  ")
    assert chinese.status_code == english.status_code == 422 and world_counts() == before
    assert error_of(chinese.content.decode()) == "请填写「处置反馈（上报人可见）」"
    assert error_of(english.content.decode()) == "Please fill in “Handling feedback (the reporter sees it)”"
    # an input the action does not word its own way keeps the usual label
    other = post_action(signed_in(loop.leader), _at(loop, "handled"), "supervise", note=" ")
    assert error_of(other.content.decode()) == "请填写「说明」"


def test_a_hotline_form_without_a_coordinate_system_says_so_beside_it(loop):
    data = {"hotline_ticket": "12345-20261201-0301", "caller_name": "张先生", "callback_phone": "13812345678",
            "title": "路灯不亮", "description": "小区门口路灯坏了", "address": "", "lng": str(POINT[0]),
            "lat": str(POINT[1]), "category": str(loop.cat.pk), "idempotency_key": uuid.uuid4().hex}
    for language, required in (("zh-hans", "这个字段是必填项。"), ("en", "This field is required.")):
        before = world_counts()
        response = signed_in(loop.dispatcher, language).post(reverse("ui:case_hotline"), data)
        assert response.status_code == 400 and world_counts() == before
        html = response.content.decode()
        select = re.search(r'<select name="crs"[^>]*>', html).group(0)
        assert 'aria-describedby="id_crs_error"' in select
        assert re.search(r'<span class="error" id="id_crs_error">([^<]*)</span>', html).group(1) == required


def test_short_times_carry_the_year_in_english_and_for_another_year():
    now = timezone.localtime()
    this_year = now.replace(month=1, day=2, hour=13, minute=39)
    last_year = this_year.replace(year=now.year - 1)
    assert short_time_filter(this_year) == "01-02 13:39"
    assert short_time_filter(last_year) == f"{now.year - 1}-01-02 13:39"
    assert short_time_filter(None) == ""
    with translation.override("en"):
        assert short_time_filter(this_year) == f"{now.year}-01-02 13:39"


def test_the_case_page_shows_a_finished_limit_with_its_year_in_english(loop):
    case = _at(loop, "dispatched")
    stopped = sla.clocks_of(case).get(kind="case.dispatch").stopped_at
    local = timezone.localtime(stopped)
    zh, en = page(signed_in(loop.dispatcher), case), page(signed_in(loop.dispatcher, "en"), case)
    assert f"按时 {local:%m-%d %H:%M}</li>" in zh and f"按时 {local:%Y-%m-%d %H:%M}" not in zh
    assert f"on time {local:%Y-%m-%d %H:%M}</li>" in en


def test_a_paused_clock_says_so_without_a_percentage(loop):
    case = act(actor=loop.leader, case=_at(loop, "dispatched"), action="suspend", reason="等待专项资金")
    zh, en = page(signed_in(loop.dispatcher), case), page(signed_in(loop.dispatcher, "en"), case)
    clock = re.search(r'<div class="clock" data-clock="case.handle">(.*?)</div>\s*</div>', zh, re.S).group(1)
    assert "暂停期间不计时" in clock and "已用" not in clock and 'class="bar' not in clock and "期限 —" not in clock
    clock = re.search(r'<div class="clock" data-clock="case.handle">(.*?)</div>\s*</div>', en, re.S).group(1)
    assert "The clock does not run while paused" in clock and "% used" not in clock and "Due —" not in clock
    # running again: the due time and the share used are back
    act(actor=loop.leader, case=case, action="unsuspend")
    clock = re.search(r'<div class="clock" data-clock="case.handle">(.*?)</div>\s*</div>',
                      page(signed_in(loop.dispatcher), case), re.S).group(1)
    assert "已用" in clock and "暂停期间不计时" not in clock


def test_the_boards_overdue_list_shows_the_year_where_it_could_be_misread(loop):
    case = _at(loop, "dispatched")
    long_ago = timezone.make_aware(datetime(timezone.localdate().year - 1, 11, 3, 14, 40))
    this_year = timezone.localtime() - timedelta(minutes=5)
    sla.clocks_of(case).filter(kind="case.handle").update(due_at=long_ago)
    Case.objects.filter(pk=case.pk).update(deadline=long_ago, is_overdue=True)
    other = _at(loop, "dispatched")
    sla.clocks_of(other).filter(kind="case.handle").update(due_at=this_year)
    Case.objects.filter(pk=other.pk).update(deadline=this_year, is_overdue=True)

    def due(html: str, c) -> str:
        row = html.split(f'data-oid="{c.pk}"')[1].split("</tr>")[0]
        return re.search(r'data-late-step="[^"]*">[^<]*<span class="hint">([^<]*)</span>', row).group(1)

    zh = signed_in(loop.dispatcher).get("/board/lists/").content.decode()
    en = signed_in(loop.dispatcher, "en").get("/board/lists/").content.decode()
    assert due(zh, case) == f"期限 {long_ago.year}-11-03 14:40" and due(zh, other) == f"期限 {this_year:%m-%d %H:%M}"
    assert due(en, case) == f"Due {long_ago.year}-11-03 14:40" and due(en, other) == f"Due {this_year:%Y-%m-%d %H:%M}"


def test_the_downloads_say_they_are_in_chinese_in_english_only(loop):
    case = _at(loop, "dispatched")
    zh, en = page(signed_in(loop.dispatcher), case), page(signed_in(loop.dispatcher, "en"), case)

    def link(html: str, which: str) -> str:
        return re.search(rf'data-download="{which}">([^<]*)</a>', html).group(1)

    assert link(zh, "case-file") == "下载案卷（PDF）" and link(en, "case-file") == "Case file (PDF, in Chinese)"
    assert link(zh, "ledger") == "导出本案卷台账（Excel）" and "in Chinese" in link(en, "ledger")
    listed = signed_in(loop.dispatcher, "en").get(reverse("ui:case_list")).content.decode()
    assert "in Chinese" in link(listed, "ledger")
    evaluation = signed_in(loop.leader, "en").get("/evaluation/", {"month": "2026-05"}).content.decode()
    assert "Export Excel (in Chinese)" in evaluation


def test_the_demo_models_note_is_in_the_readers_language(loop, settings, tmp_path):
    from civicgrid.integrations.router import gazetteer, service
    from civicgrid.integrations.router.demo import DEMO_NOTE, DEMO_SOURCE
    from civicgrid.integrations.router.models import RouterModelVersion

    settings.CIVICGRID_ROUTER_MODELS_DIR = str(tmp_path / "models")
    service.clear_cache()
    gazetteer.clear_cache()
    RouterModelVersion.objects.create(version="20261201-demo", path=str(tmp_path / "none"), source=DEMO_SOURCE,
                                      note=DEMO_NOTE)
    try:
        zh = signed_in(loop.dispatcher).get("/router/").content.decode()
        en = signed_in(loop.dispatcher, "en").get("/router/").content.decode()
    finally:
        service.clear_cache()
        gazetteer.clear_cache()
    assert '<span class="hint">演示模型（示例数据）</span>' in zh and "demo model" not in zh
    assert '<span class="hint">demo model (example data)</span>' in en and "演示模型" not in en


def test_the_migration_mends_the_demo_note_written_before(loop):
    import importlib

    from django.apps import apps

    from civicgrid.integrations.router.demo import DEMO_NOTE, DEMO_SOURCE
    from civicgrid.integrations.router.models import RouterModelVersion

    migration = importlib.import_module("civicgrid.integrations.router.migrations.0003_demo_note_separator")
    old = RouterModelVersion.objects.create(version="v-old", path="/x", source=DEMO_SOURCE, note=migration.OLD)
    typed = RouterModelVersion.objects.create(version="v-typed", path="/y", source="upload", note=migration.OLD)
    migration.forwards(apps, None)
    old.refresh_from_db()
    typed.refresh_from_db()
    assert old.note == DEMO_NOTE == migration.NEW and typed.note == migration.OLD
