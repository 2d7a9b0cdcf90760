"""The system administrator's Open311 page: clients created, changed, re-keyed, stopped and started through the
page, and the queue's failed reports retried; refusals say why and change nothing; other roles get 403."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from civicgrid.apps.cases.models import Case
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.models import Open311Client, QueuedRequest, QueueState
from civicgrid.testing.builders import user_with

from .conftest import KEY, form, get, post, spec_error

pytestmark = pytest.mark.django_db
PAGE = "/manage/open311/"


def _said(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def _clients() -> list:
    return list(Open311Client.objects.order_by("pk").values_list(
        "name", "key_hash", "is_active", "queued", "rate_per_minute", "burst", "jurisdiction"))


def _key_in(text: str) -> str:
    return re.search(r"(o311_[A-Za-z0-9_-]{20,})", text).group(1)


def test_only_the_system_administrator_reaches_the_page_and_its_actions(o311, http):
    client = o311.client
    before = _clients()
    for user in (o311.dispatcher, user_with(Role.SECURITY_ADMIN, username="secadmin")):
        c = Client()
        c.force_login(user)
        assert c.get(PAGE).status_code == 403
        assert 'data-nav="open311_clients"' not in c.get("/").content.decode()
        for name, args in (("open311_client_create", []), ("open311_client_update", [client.pk]),
                           ("open311_client_active", [client.pk]), ("open311_client_rotate", [client.pk]),
                           ("open311_queue_retry", []), ("open311_queue_drain", [])):
            response = c.post(reverse(f"ui:{name}", args=args), {"name": "x", "rate_per_minute": 5, "burst": 5,
                                                                "active": "0", "token": "t"})
            assert response.status_code == 403, name
    assert _clients() == before
    assert get(http, "services.json", api_key=KEY).status_code == 200  # the key still works
    assert http.get(PAGE).status_code == 302  # signed out: to the login page


def test_the_administrator_creates_a_client_whose_key_is_shown_once_and_works(o311, admin_http, http):
    assert 'data-nav="open311_clients"' in admin_http.get("/").content.decode()
    response = admin_http.post(reverse("ui:open311_client_create"),
                               {"name": "城市App", "jurisdiction": "", "rate_per_minute": "30", "burst": "10",
                                "queued": "1"}, follow=True)
    key = _key_in(_said(response) or response.content.decode())
    client = Open311Client.objects.get(name="城市App")
    assert client.queued and client.rate_per_minute == 30 and client.burst == 10 and client.key_prefix == key[:8]
    assert client.created_by.username == "sysadmin" and key not in client.key_hash
    page = admin_http.get(PAGE).content.decode()
    assert key not in page and 'data-client="城市App"' in page and "先回执后立卷" in page
    # the key works: a report from it is queued
    response = post(http, "requests.json", form(o311, api_key=key))
    assert response.status_code == 201 and "token" in response.json()[0]
    assert QueuedRequest.objects.filter(client=client, state=QueueState.PENDING).count() == 1
    created = AuditEntry.objects.get(action="open311.client_created", target_id=str(client.pk))
    assert created.actor_name == "sysadmin" and key not in str(created.after)


@pytest.mark.parametrize("fields, words", [
    ({"name": ""}, "名称"),
    ({"name": "FixMyStreet 测试"}, "已存在"),
    ({"rate_per_minute": "abc"}, "限流"),
    ({"burst": "0"}, "限流"),
    ({"rate_per_minute": "2000000"}, "限流"),
    ({"jurisdiction": "1" * 65}, "管辖区"),
    ({"jurisdiction": "999999"}, "不受理管辖区"),  # no jurisdiction this server serves: it could never report
])
def test_a_refused_new_client_says_why_and_creates_nothing(o311, admin_http, fields, words):
    before, audit = _clients(), AuditEntry.objects.count()
    data = {"name": "新客户端", "rate_per_minute": "60", "burst": "20", **fields}
    response = admin_http.post(reverse("ui:open311_client_create"), data)
    assert response.status_code == 302 and words in _said(response)
    assert _clients() == before and AuditEntry.objects.count() == audit


def test_changing_a_client_switches_its_mode_and_limits_with_an_audit_entry(o311, admin_http, http):
    client = o311.client
    response = admin_http.post(reverse("ui:open311_client_update", args=[client.pk]),
                               {"jurisdiction": "140213", "rate_per_minute": "120", "burst": "40", "queued": "1"})
    assert "已保存" in _said(response)
    client.refresh_from_db()
    assert (client.queued, client.rate_per_minute, client.burst, client.jurisdiction) == (True, 120, 40, "140213")
    # at once in this process (the cached client went): the next report is queued
    assert "token" in post(http, "requests.json", form(o311)).json()[0]
    assert QueuedRequest.objects.count() == 1 and Case.objects.count() == 0
    changed = AuditEntry.objects.get(action="open311.client_changed", target_id=str(client.pk))
    assert changed.before["queued"] is False and changed.after["queued"] is True
    assert changed.before["rate_per_minute"] == 600 and changed.after["rate_per_minute"] == 120
    # saving the same values again writes no entry
    admin_http.post(reverse("ui:open311_client_update", args=[client.pk]),
                    {"jurisdiction": "140213", "rate_per_minute": "120", "burst": "40", "queued": "1"})
    assert AuditEntry.objects.filter(action="open311.client_changed").count() == 1


@pytest.mark.parametrize("fields, words", [
    ({"burst": "-1"}, "限流"),
    ({"jurisdiction": "999999"}, "不受理管辖区"),
])
def test_a_refused_change_says_why_and_changes_nothing(o311, admin_http, fields, words):
    before, audit = _clients(), AuditEntry.objects.count()
    data = {"jurisdiction": "", "rate_per_minute": "60", "burst": "20", "queued": "1", **fields}
    response = admin_http.post(reverse("ui:open311_client_update", args=[o311.client.pk]), data)
    assert words in _said(response)
    assert _clients() == before and AuditEntry.objects.count() == audit
    assert admin_http.post(reverse("ui:open311_client_update", args=[99999]), {}).status_code == 404


def test_a_new_key_replaces_the_old_one_at_once(o311, admin_http, http):
    response = admin_http.post(reverse("ui:open311_client_rotate", args=[o311.client.pk]))
    key = _key_in(_said(response))
    assert "api_key" in spec_error(get(http, "services.json", api_key=KEY), 403)
    assert get(http, "services.json", api_key=key).status_code == 200
    rotated = AuditEntry.objects.get(action="open311.key_rotated", target_id=str(o311.client.pk))
    assert rotated.before["key_prefix"] == KEY[:8] and rotated.after["key_prefix"] == key[:8]
    assert key not in str(rotated.after) and KEY not in str(rotated.before)


def test_stopping_and_starting_a_client(o311, admin_http, http):
    assert get(http, "services.json", api_key=KEY).status_code == 200  # cached now
    response = admin_http.post(reverse("ui:open311_client_active", args=[o311.client.pk]), {"active": "0"})
    assert "已停用" in _said(response)
    assert spec_error(post(http, "requests.json", form(o311)), 403)
    assert Case.objects.count() == 0
    admin_http.post(reverse("ui:open311_client_active", args=[o311.client.pk]), {"active": "1"})
    assert post(http, "requests.json", form(o311)).status_code == 201
    assert AuditEntry.objects.filter(action="open311.client_deactivated").count() == 1
    assert AuditEntry.objects.filter(action="open311.client_reactivated").count() == 1


def _failed_report(o311, http) -> QueuedRequest:
    """A queued report whose stored form the batch cannot read (as after a version change); it fails alone."""
    o311.client.queued = True
    o311.client.save(update_fields=["queued"])
    cache.clear()
    token = post(http, "requests.json", form(o311)).json()[0]["token"]
    row = QueuedRequest.objects.get(token=token)
    good = row.report
    QueuedRequest.objects.filter(pk=row.pk).update(report={"version": 999})
    assert services.drain() == 1
    row.refresh_from_db()
    assert row.state == QueueState.FAILED and row.contacts_enc  # the failed row keeps the sealed contacts
    row.report_before_failure = good
    return row


def test_a_failed_report_is_listed_by_token_and_retried_once_put_right(o311, admin_http, http):
    row = _failed_report(o311, http)
    page = admin_http.get(PAGE).content.decode()
    assert f'data-failed-token="{row.token}"' in page and "无法读取" in page
    assert 'data-pending>0<' in page and 'data-failed>1<' in page
    assert "小区门口垃圾堆放" not in page and "张" + "三" not in page  # no report content on this page
    QueuedRequest.objects.filter(pk=row.pk).update(report=row.report_before_failure)  # put right
    response = admin_http.post(reverse("ui:open311_queue_retry"), {"token": [row.token]})
    assert "重新排队" in _said(response)
    row.refresh_from_db()
    assert row.state == QueueState.PENDING and row.error == "" and row.done_at is None
    retried = AuditEntry.objects.get(action="open311.request_retried", target_id=str(row.pk))
    assert retried.actor_name == "sysadmin" and "无法读取" in retried.data["error"]
    response = admin_http.post(reverse("ui:open311_queue_drain"))
    assert "1 件" in _said(response)
    row.refresh_from_db()
    assert row.state == QueueState.MADE and row.case is not None
    assert row.case.reporter_name == "张三" and row.case.reporter_phone_masked == "138****5678"  # nothing lost
    assert f'data-failed-token="{row.token}"' not in admin_http.get(PAGE).content.decode()


def test_a_retry_naming_a_report_that_did_not_fail_changes_nothing(o311, admin_http, http):
    row = _failed_report(o311, http)
    pending = post(http, "requests.json", form(o311, device_id="d-2")).json()[0]["token"]
    audit = AuditEntry.objects.count()
    for tokens in ([row.token, pending], [row.token, "no-such-token"], []):
        response = admin_http.post(reverse("ui:open311_queue_retry"), {"token": tokens})
        assert "不存在或不是" in _said(response) or "请选择" in _said(response)
    assert QueuedRequest.objects.get(pk=row.pk).state == QueueState.FAILED
    assert QueuedRequest.objects.get(token=pending).state == QueueState.PENDING
    assert AuditEntry.objects.count() == audit


def test_the_command_retries_rotates_and_reactivates(o311, http, capsys):
    row = _failed_report(o311, http)
    QueuedRequest.objects.filter(pk=row.pk).update(report=row.report_before_failure)
    call_command("open311_client", "retry", row.token)
    assert QueuedRequest.objects.get(pk=row.pk).state == QueueState.PENDING
    call_command("open311_client", "rotate", o311.client.name)
    key = _key_in(capsys.readouterr().out)
    cache.clear()
    assert get(http, "services.json", api_key=key).status_code == 200
    call_command("open311_client", "deactivate", o311.client.name)
    call_command("open311_client", "reactivate", o311.client.name)
    assert Open311Client.objects.get(pk=o311.client.pk).is_active


def test_the_page_costs_the_same_queries_however_many_clients_and_failures(o311, admin_http, http):
    _failed_report(o311, http)
    admin_http.get(PAGE)  # warm the session and menu caches

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_http.get(PAGE).status_code == 200
        return len(queries)

    few = count()
    for i in range(8):
        services.create_client(actor=None, name=f"客户端{i}", queued=True)
    rows = QueuedRequest.objects.filter(state=QueueState.FAILED)
    template = rows.first()
    for i in range(12):
        template.pk, template.token, template.key = None, f"tok-{i}", None
        template.save()
    page = admin_http.get(PAGE).content.decode()
    assert page.count("data-failed-token=") == 13 and page.count('data-client="') == 9
    assert count() == few


@pytest.fixture
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    from django.conf import settings
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


def _shown(client: Client, response) -> str:
    """The flash messages as the next page shows them (in the reader's language)."""
    page = client.get(response["Location"]).content.decode()
    return html.unescape(" ".join(re.findall(r'<li class="msg[^"]*">(.*?)</li>', page, re.S)))


def test_the_page_speaks_one_language(o311, admin_http):
    from django.conf import settings
    from django.utils import translation

    client = o311.client
    try:
        said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_create"),
                                                  {"name": "城市App", "rate_per_minute": "30", "burst": "10"}))
        assert "已创建客户端「城市App」" in said and _key_in(said) and "shown once" not in said and " / " not in said
        said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_rotate", args=[client.pk])))
        assert "已换发密钥" in said and _key_in(said) and "new api_key" not in said
        said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_active", args=[client.pk]),
                                                  {"active": "0"}))
        assert "已停用" in said and "disabled" not in said
        page = admin_http.get(PAGE).content.decode()
        assert f"{client.rate_per_minute}/分钟" in page and "，突发" not in page

        admin_http.post("/i18n/setlang/", {"language": "en", "next": PAGE})
        said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_create"),
                                                  {"name": "Hotline", "rate_per_minute": "30", "burst": "10"}))
        assert 'client "Hotline" created' in said and _key_in(said) and "已创建" not in said and "只显示" not in said
        said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_rotate", args=[client.pk])))
        assert f"{client.name}" in said and _key_in(said) and "已换发" not in said and "只显示" not in said
        said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_active", args=[client.pk]),
                                                  {"active": "1"}))
        assert said == f'client "{client.name}" enabled'
        said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_update", args=[client.pk]),
                                                  {"rate_per_minute": "120", "burst": "30"}))
        assert said == f'client "{client.name}" saved'
        page = admin_http.get(PAGE).content.decode()
        assert "120/min" in page and "，" not in page.split("120/min", 1)[1][:20]
    finally:
        translation.activate(settings.LANGUAGE_CODE)


def test_a_client_name_holding_the_separator_reads_in_one_language(o311, admin_http, chinese_afterwards):
    """The demo's client is "演示客户端 / demo client": its " / " once split the messages naming it in the wrong
    place, and both languages showed."""
    client, _key = services.create_client(actor=None, name="演示客户端 / demo client")
    before, audit = _clients(), AuditEntry.objects.count()
    again = {"name": client.name, "rate_per_minute": "30", "burst": "10"}
    said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_create"), again))
    assert said == "客户端「演示客户端 / demo client」已存在"
    assert _shown(admin_http, admin_http.post(reverse("ui:open311_client_update", args=[client.pk]),
                                              {"rate_per_minute": "0", "burst": "1"})) == (
        "限流参数须为 1–1000000 的整数")
    assert _clients() == before and AuditEntry.objects.count() == audit
    said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_active", args=[client.pk]), {"active": "0"}))
    assert said == "「演示客户端 / demo client」已停用，其 api_key 不再可用"

    admin_http.post("/i18n/setlang/", {"language": "en", "next": PAGE})
    said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_create"), again))
    assert said == 'a client named "演示客户端 / demo client" already exists'
    said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_active", args=[client.pk]), {"active": "1"}))
    assert said == 'client "演示客户端 / demo client" enabled'
    said = _shown(admin_http, admin_http.post(reverse("ui:open311_client_rotate", args=[client.pk])))
    assert said.startswith('client "演示客户端 / demo client" has a new api_key') and "换发" not in said


def _reason(page: str, token: str) -> str:
    row = page.split(f'data-failed-token="{token}"', 1)[1].split("</tr>", 1)[0]
    return html.unescape(re.search(r'data-label="[^"]*">([^<]*)</td>\s*$', row).group(1))


def test_a_failed_reports_reason_reads_in_one_language(o311, admin_http, http, chinese_afterwards):
    row = _failed_report(o311, http)
    assert row.error.startswith("无法读取排队的上报 / the queued report cannot be read")  # kept in both
    assert _reason(admin_http.get(PAGE).content.decode(), row.token) == "无法读取排队的上报"
    admin_http.post("/i18n/setlang/", {"language": "en", "next": PAGE})
    assert _reason(admin_http.get(PAGE).content.decode(), row.token).startswith("the queued report cannot be read")
