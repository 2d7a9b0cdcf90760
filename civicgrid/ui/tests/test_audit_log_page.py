"""The audit administrator's log page names each action (audit.labels), keeps its code beside the name, and
filters by an action chosen from a grouped list or typed as a code or prefix (the same `action` parameter)."""

import csv
import io
import re

import pytest
from django.utils import timezone

from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(db):
    rows = {action: AuditEntry.objects.create(at=timezone.now(), action=action, actor_name="li")
            for action in ("cases.dispatch", "cases.accept", "hazards.report_done", "ops.task_rerun", "auth.login",
                           "made.up_action")}
    return rows


@pytest.fixture
def auditor(client, tree):
    client.force_login(user_with(Role.AUDIT_ADMIN))
    return client


def shown(page: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-oid="(\d+)"', page)}


def row_of(page: str, entry) -> str:
    return page.split(f'data-oid="{entry.pk}"', 1)[1].split("</tr>", 1)[0]


def test_each_action_shows_its_chinese_name_with_the_code_beside_it(auditor, trail):
    page = auditor.get("/security/audit/").content.decode()
    for code, name in (("cases.dispatch", "派遣"), ("hazards.report_done", "整改完成"),
                       ("ops.task_rerun", "重新运行后台任务"), ("auth.login", "登录")):
        row = row_of(page, trail[code])
        assert f'<span title="{code}" data-action="{code}">{name}</span>' in row
        assert f'<code class="hint">{code}</code>' in row
    # An action nobody named shows its code as the text, not a second time beside it.
    row = row_of(page, trail["made.up_action"])
    assert '<span title="made.up_action" data-action="made.up_action">made.up_action</span>' in row
    assert "<code" not in row


def test_the_action_filter_is_a_list_grouped_by_domain(auditor, trail):
    page = auditor.get("/security/audit/").content.decode()
    select = page.split('<select name="action" data-action-filter>', 1)[1].split("</select>", 1)[0]
    groups = re.findall(r'<optgroup label="([^"]+)">', select)
    assert groups[:3] == ["登录与认证", "账号与授权", "数据"]
    assert {"事件办理", "隐患", "防汛", "应急物资", "抢险救援", "运行"} <= set(groups)
    assert '<option value="cases.dispatch">派遣 · cases.dispatch</option>' in select
    assert '<option value="hazards.">隐患：全部</option>' in select
    assert 'name="action" value="" placeholder="auth. / data.changed" data-action-code' in page


def test_filter_by_an_action_chosen_from_the_list(auditor, trail):
    resp = auditor.get("/security/audit/?action=cases.dispatch")
    page = resp.content.decode()
    assert resp.status_code == 200 and shown(page) == {trail["cases.dispatch"].pk}
    assert '<option value="cases.dispatch" selected>' in page
    assert 'name="action" value="" placeholder' in page  # the typed box stays empty

    page = auditor.get("/security/audit/?action=cases.").content.decode()
    assert shown(page) == {trail["cases.dispatch"].pk, trail["cases.accept"].pk}
    assert '<option value="cases." selected>' in page


def test_a_typed_code_prefix_still_filters_and_wins_over_the_list(auditor, trail):
    page = auditor.get("/security/audit/?action=made.up_action").content.decode()
    assert shown(page) == {trail["made.up_action"].pk}
    assert 'name="action" value="made.up_action"' in page and " selected>" not in page.split("data-action-filter")[1].split("</select>")[0]
    # The form sends the list, then the box: the typed code is the one used.
    page = auditor.get("/security/audit/?action=auth.login&action=Hazards.").content.decode()
    assert shown(page) == {trail["hazards.report_done"].pk}
    # An empty box leaves the list's choice.
    page = auditor.get("/security/audit/?action=auth.login&action=").content.decode()
    assert shown(page) == {trail["auth.login"].pk}


@pytest.mark.parametrize("bad", ["<script>", "cases dispatch", "a.b.c", "x" * 70, "派遣"])
def test_a_bad_action_filter_answers_a_clear_error(auditor, trail, bad):
    before = AuditEntry.objects.count()
    resp = auditor.get("/security/audit/", {"action": bad})
    page = resp.content.decode()
    assert resp.status_code == 400
    assert '<p class="error" role="alert">无法识别的动作代码' in page
    assert "<script>" not in page.split("<main", 1)[1].split("</main>")[0]  # the value is escaped
    assert AuditEntry.objects.count() == before  # reading is not a write


def test_the_export_keeps_the_code_and_adds_the_name(auditor, trail):
    resp = auditor.get("/security/audit/export/?format=csv&action=cases.dispatch")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    header = [h.split()[0] for h in rows[0]]
    assert rows[1][header.index("动作")] == "cases.dispatch"
    assert rows[1][header.index("动作名称")] == "派遣"
    assert auditor.get("/security/audit/export/?format=csv&action=bad code").status_code == 400


def test_the_page_is_refused_to_others(client, tree, trail):
    client.force_login(user_with(Role.SECURITY_ADMIN))
    assert client.get("/security/audit/?action=cases.dispatch").status_code == 403


def test_the_api_names_actions_and_refuses_a_bad_filter(client, tree, trail):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user_with(Role.AUDIT_ADMIN))[1]}"}
    body = client.get("/api/v1/audit?action=hazards.report_done", **headers).json()
    assert [(i["action"], i["action_name"]) for i in body["items"]] == [("hazards.report_done", "整改完成")]
    resp = client.get("/api/v1/audit?action=<x>", **headers)
    assert resp.status_code == 422 and resp.json()["detail"]


@pytest.fixture
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    from django.conf import settings
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


def english(client):
    assert client.post("/i18n/setlang/", {"language": "en", "next": "/security/audit/"}).status_code == 302
    return client


@pytest.mark.parametrize("query", [{"since": "abc"}, {"until": "2026-13-40"}, {"action": "<x>"}])
def test_an_invalid_filter_lists_nothing(auditor, trail, query):
    resp = auditor.get("/security/audit/", query)
    page = resp.content.decode()
    assert resp.status_code == 400 and '<p class="error" role="alert">' in page
    assert shown(page) == set()  # never the unfiltered trail under a filter the reader believes applied


def test_a_start_after_the_end_is_refused_with_a_message(auditor, trail):
    resp = auditor.get("/security/audit/", {"since": "2026-05-02", "until": "2026-05-01"})
    page = resp.content.decode()
    assert resp.status_code == 400 and shown(page) == set()
    assert '<p class="error" role="alert">开始日期晚于结束日期' in page
    # One day (start and end the same date) is a range, not an error.
    today = timezone.localdate().isoformat()
    resp = auditor.get("/security/audit/", {"since": today, "until": today})
    assert resp.status_code == 200 and shown(resp.content.decode()) == {e.pk for e in trail.values()}
    # The export refuses the same range rather than writing an empty file.
    assert auditor.get("/security/audit/export/", {"since": "2026-05-02", "until": "2026-05-01"}).status_code == 400
    # …and so does the API, which builds the same filter.
    headers = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user_with(Role.AUDIT_ADMIN))[1]}"}
    resp = auditor.get("/api/v1/audit", {"since": "2026-05-02T00:00:00", "until": "2026-05-01T00:00:00"}, **headers)
    assert resp.status_code == 400 and resp.json()["field"] == "since"


def test_a_date_on_the_calendars_last_day_reads_as_until_then(auditor, trail):
    """9999-12-31 has no next midnight (its end once overflowed into a 500): the page, the export and the API
    read it alike, as "until then"."""
    everything = {e.pk for e in trail.values()}
    resp = auditor.get("/security/audit/", {"until": "9999-12-31"})
    assert resp.status_code == 200 and shown(resp.content.decode()) == everything
    resp = auditor.get("/security/audit/", {"since": "9999-12-31", "until": "9999-12-31"})
    assert resp.status_code == 200 and shown(resp.content.decode()) == set()
    resp = auditor.get("/security/audit/export/", {"format": "csv", "action": "cases.", "until": "9999-12-31"})
    assert resp.status_code == 200 and len(list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))) == 3
    headers = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user_with(Role.AUDIT_ADMIN))[1]}"}
    body = auditor.get("/api/v1/audit", {"action": "cases.", "until": "9999-12-31"}, **headers).json()
    assert body["total"] == 2


def test_results_and_object_types_are_lists_in_the_readers_language(auditor, trail, tree, chinese_afterwards):
    from civicgrid.foundation.audit.service import record

    resident_change = record(actor=None, action="data.changed", target=tree["140213050"], after={"name": "x"})
    page = auditor.get("/security/audit/").content.decode()
    results = page.split('<select name="result">', 1)[1].split("</select>", 1)[0]
    assert '<option value="refused">被拒绝</option>' in results
    types = page.split('<select name="target_type">', 1)[1].split("</select>", 1)[0]
    assert '<option value="regions.region">区域 · regions.region</option>' in types
    # The URL parameter is the same code as before.
    page = auditor.get("/security/audit/", {"target_type": "regions.region"}).content.decode()
    assert shown(page) == {resident_change.pk} and '<option value="regions.region" selected>' in page

    page = english(auditor).get("/security/audit/").content.decode()
    results = page.split('<select name="result">', 1)[1].split("</select>", 1)[0]
    assert '<option value="refused">refused</option>' in results and "被拒绝" not in results
    types = page.split('<select name="target_type">', 1)[1].split("</select>", 1)[0]
    assert '<option value="regions.region">Region · regions.region</option>' in types
    resp = auditor.get("/security/audit/", {"since": "2026-05-02", "until": "2026-05-01"})
    assert "the start date is after the end date" in resp.content.decode()
