"""三员分立: the system, security and audit administrators each do their own work, through their own pages, and
none of them reads business data by virtue of the role."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from civicgrid.foundation.access import services
from civicgrid.foundation.access.models import ApiToken, Grant, LoginAttempt, User
from civicgrid.foundation.access.roles import ADMIN_ROLES, CAPABILITIES, Role, capabilities_of
from civicgrid.foundation.access.scope import ScopedModel
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import department, user_with

pytestmark = pytest.mark.django_db
PASSWORD = "Civic-Test-2026!"

MANAGE = ["/manage/accounts/"]
SECURITY = ["/security/grants/", "/security/logins/"]
AUDIT = ["/security/audit/", "/security/audit/export/?format=csv"]


def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def admins(tree):
    return {role: user_with(role) for role in (Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN)}


# ---------------------------------------------------------------------------------------------- who reaches what


@pytest.mark.parametrize(
    "role, allowed",
    [
        (Role.SYSTEM_ADMIN, MANAGE),
        (Role.SECURITY_ADMIN, SECURITY),
        (Role.AUDIT_ADMIN, AUDIT),
    ],
)
def test_each_administrator_reaches_only_their_own_pages(client, admins, role, allowed):
    signed_in(client, admins[role])
    for url in MANAGE + SECURITY + AUDIT:
        status = client.get(url).status_code
        assert status == (200 if url in allowed else 403), (role, url, status)


def test_business_roles_reach_none_of_them(client, tree):
    leader = user_with(Role.LEADER, region=tree["140213"])
    signed_in(client, leader)
    for url in MANAGE + SECURITY + AUDIT:
        assert client.get(url).status_code == 403, url


def test_menu_shows_each_administrator_their_entries(client, admins):
    body = signed_in(client, admins[Role.AUDIT_ADMIN]).get("/").content.decode()
    assert 'data-nav="audit_log"' in body and 'data-nav="manage_accounts"' not in body
    body = signed_in(client, admins[Role.SECURITY_ADMIN]).get("/").content.decode()
    assert 'data-nav="security_grants"' in body and 'data-nav="audit_log"' not in body


def test_none_of_the_three_roles_reads_business_data(db):
    """By capability and by scope: whatever the action, every scoped model is empty for them."""
    from civicgrid.testing import contract

    world = contract.build_world()
    actions = {cap.split(".", 1)[1] for caps in CAPABILITIES.values() for cap in caps}
    scoped = [m for m in apps.get_models() if issubclass(m, ScopedModel) and m._default_manager.exists()]
    assert scoped, "the contract world should have created business data"
    business_apps = {m.scope_capability("view").split(".")[0] for m in apps.get_models() if issubclass(m, ScopedModel)}
    for role in ADMIN_ROLES:
        admin = user_with(role)
        for model in scoped:
            for action in actions:
                assert not model._default_manager.visible_to(admin, action).exists(), (role, model, action)
        # None of their capabilities reads an app that holds business data (configuration such as case
        # categories is the system administrator's to see).
        readers = {c for c in capabilities_of(role)
                   if c.split(".")[0] in business_apps and c.split(".")[1] in {"view", "export", "reveal", "key_group"}}
        assert not readers, (role, readers)
    assert world.objects


# --------------------------------------------------------------------------------------- system administrator


def test_system_admin_creates_an_account_that_must_change_its_password(client, admins):
    signed_in(client, admins[Role.SYSTEM_ADMIN])
    resp = client.post("/manage/accounts/new/", {"username": "wang.li", "display_name": "王丽"}, follow=True)
    assert resp.status_code == 200
    shown = re.search(r"初始密码（只显示这一次）：([A-Za-z0-9-]+)", resp.content.decode())
    assert shown
    new = User.objects.get(username="wang.li")
    assert new.must_change_password and new.check_password(shown.group(1)) and not new.grants.exists()
    created = AuditEntry.objects.get(action="access.user_created", target_id=str(new.pk))
    assert created.actor_id == admins[Role.SYSTEM_ADMIN].pk

    client.post("/accounts/logout/")
    resp = client.post("/accounts/login/", {"username": "wang.li", "password": shown.group(1)})
    assert resp.status_code == 302
    assert client.get("/").url == "/accounts/password/"


def test_system_admin_cannot_create_with_a_weak_password_or_a_taken_name(client, admins):
    signed_in(client, admins[Role.SYSTEM_ADMIN])
    client.post("/manage/accounts/new/", {"username": "weak", "password": "password"})
    assert not User.objects.filter(username="weak").exists()
    taken = admins[Role.AUDIT_ADMIN].username
    client.post("/manage/accounts/new/", {"username": taken.upper(), "password": PASSWORD})
    assert User.objects.filter(username__iexact=taken).count() == 1


def test_deactivation_stops_sessions_and_tokens(client, tree, admins):
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    _, raw = ApiToken.issue(worker)
    signed_in(client, admins[Role.SYSTEM_ADMIN]).post(f"/manage/accounts/{worker.pk}/active/", {"active": "0"})
    worker.refresh_from_db()
    assert not worker.is_active
    assert ApiToken.objects.get(user=worker).revoked_at is not None
    assert client.get("/api/v1/regions", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    assert AuditEntry.objects.filter(action="access.user_changed", target_id=str(worker.pk)).exists()


def test_system_admin_cannot_grant_roles(admins, tree):
    with pytest.raises(services.PermissionDenied):
        services.add_grant(actor=admins[Role.SYSTEM_ADMIN], user=admins[Role.SYSTEM_ADMIN],
                           role=Role.LEADER, region=tree["140213"])


# -------------------------------------------------------------------------------------- security administrator


def test_security_admin_grants_and_revokes_roles(client, tree, admins):
    worker = User.objects.create_user("zhao", password=PASSWORD)
    signed_in(client, admins[Role.SECURITY_ADMIN])
    client.post("/security/grants/new/", {"username": "zhao", "role": "grid_worker", "region": "140213050001001"})
    grant = Grant.objects.get(user=worker)
    assert grant.role == "grid_worker" and grant.region.code == "140213050001001"
    assert AuditEntry.objects.filter(action="access.grant_added", target_id=str(worker.pk)).exists()
    page = client.get("/security/grants/?q=zhao").content.decode()
    assert 'data-grant="grid_worker"' in page and "140213050001001" in page

    client.post(f"/security/grants/{grant.pk}/revoke/")
    assert not Grant.objects.filter(user=worker).exists()
    assert AuditEntry.objects.filter(action="access.grant_removed", target_id=str(worker.pk)).exists()


def test_grant_form_checks_region_and_department(client, tree, admins):
    User.objects.create_user("qian", password=PASSWORD)
    dept = department(code="CGJ01")
    signed_in(client, admins[Role.SECURITY_ADMIN])
    client.post("/security/grants/new/", {"username": "qian", "role": "street_staff", "region": "999"})
    client.post("/security/grants/new/", {"username": "qian", "role": "department_handler", "department": "NOPE"})
    assert not Grant.objects.filter(user__username="qian").exists()
    client.post("/security/grants/new/", {"username": "qian", "role": "department_handler", "department": "CGJ01"})
    assert Grant.objects.get(user__username="qian").department == dept


def test_security_admin_sees_failures_and_unlocks(client, tree, admins, settings):
    settings.CIVICGRID_LOGIN_MAX_FAILURES = 2
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    for _ in range(2):
        client.post("/accounts/login/", {"username": worker.username, "password": "wrong"})
    worker.refresh_from_db()
    assert worker.locked_until
    signed_in(client, admins[Role.SECURITY_ADMIN])
    page = client.get("/security/logins/").content.decode()
    assert f'data-locked="{worker.username}"' in page and "bad_credentials" in page
    client.post(f"/security/logins/unlock/{worker.pk}/")
    worker.refresh_from_db()
    assert worker.locked_until is None
    client.post("/accounts/logout/")
    # Unlocked, and the failure count starts again: one more wrong password does not lock it at once.
    client.post("/accounts/login/", {"username": worker.username, "password": "wrong"})
    worker.refresh_from_db()
    assert worker.locked_until is None
    assert client.post("/accounts/login/", {"username": worker.username, "password": PASSWORD}).status_code == 302


def test_an_unlocked_address_leaves_the_throttled_list_until_it_fails_again(client, tree, admins, settings):
    """The tester's run: after 解除 the page said 已解除该地址的限制 and still listed "127.0.0.1 — 24 次失败"."""
    settings.CIVICGRID_LOGIN_MAX_FAILURES = 1  # an address is throttled after 4 failures
    for i in range(5):
        client.post("/accounts/login/", {"username": f"guess-{i}", "password": "wrong"}, REMOTE_ADDR="203.0.113.9")
    signed_in(client, admins[Role.SECURITY_ADMIN])
    page = client.get("/security/logins/").content.decode()
    assert 'data-throttled="203.0.113.9"' in page and "5 次失败" in page
    page = client.post("/security/logins/unlock-address/", {"source_ip": "203.0.113.9"}, follow=True).content.decode()
    assert "已解除该地址的限制" in page and 'data-throttled="203.0.113.9"' not in page
    client.post("/accounts/logout/")
    for i in range(4):  # the count starts again from the unlock
        client.post("/accounts/login/", {"username": f"again-{i}", "password": "wrong"}, REMOTE_ADDR="203.0.113.9")
    signed_in(client, admins[Role.SECURITY_ADMIN])
    page = client.get("/security/logins/").content.decode()
    assert 'data-throttled="203.0.113.9"' in page and "4 次失败" in page


# ----------------------------------------------------------------------------------------- audit administrator


def test_audit_admin_lists_filters_and_exports(client, admins):
    old = AuditEntry.objects.create(at=timezone.now() - timedelta(days=30), action="auth.login", actor_name="li")
    auditor = admins[Role.AUDIT_ADMIN]
    signed_in(client, auditor)
    page = client.get("/security/audit/").content.decode()
    assert 'data-model="audit.auditentry"' in page and f'data-oid="{old.pk}"' in page
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    page = client.get(f"/security/audit/?since={since}").content.decode()
    assert f'data-oid="{old.pk}"' not in page
    assert client.get("/security/audit/?since=nonsense").status_code == 400

    resp = client.get("/security/audit/export/?format=csv&actor=li")
    assert resp.status_code == 200 and resp["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == [str(old.pk)]
    exported = AuditEntry.objects.get(action="audit.exported")
    assert exported.actor_id == auditor.pk and exported.data["filter"] == {"actor": "li"}
    assert client.get("/security/audit/export/?format=xlsx").status_code == 200
    assert client.get("/security/audit/export/?format=pdf").status_code == 400


def test_failures_of_others_are_not_shown_to_the_audit_admin_as_editable(client, admins):
    """The audit administrator reads; there is nothing on their pages that changes anything."""
    LoginAttempt.objects.create(username="x", source_ip="10.0.0.1", succeeded=False, reason="bad_credentials")
    page = signed_in(client, admins[Role.AUDIT_ADMIN]).get("/security/audit/").content.decode()
    assert 'method="post"' not in page.split("<main", 1)[1].split("</main>")[0]
