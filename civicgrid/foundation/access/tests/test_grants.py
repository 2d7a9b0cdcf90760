"""Granting roles: end dates that make sense, repeats that renew or are refused, and 三员分立 between roles.

Every refusal leaves the grants and the audit trail as they were."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from civicgrid.foundation.access import services
from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
PASSWORD = "Civic-Test-2026!"


@pytest.fixture
def secadmin(tree):
    return user_with(Role.SECURITY_ADMIN)


@pytest.fixture
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    from django.conf import settings
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def worker(tree):
    return User.objects.create_user("zhao", password=PASSWORD)


def _state(user):
    grants = sorted(Grant.objects.filter(user=user).values_list("role", "region_id", "valid_from", "valid_until"))
    return grants, AuditEntry.objects.filter(action__startswith="access.grant").count()


def _refused(exc_type, state_of, **kwargs):
    before = _state(state_of)
    with pytest.raises(exc_type) as info:
        services.add_grant(**kwargs)
    assert _state(state_of) == before
    return info.value


# --------------------------------------------------------------------------------------------- end dates


@pytest.mark.parametrize("days", [-365 * 6, -1, 0])
def test_an_end_date_that_is_not_in_the_future_is_refused(secadmin, worker, tree, days):
    error = _refused(ValidationFailed, worker, actor=secadmin, user=worker, role=Role.GRID_WORKER,
                     region=tree["140213050001001"], valid_until=timezone.now() + timedelta(days=days))
    assert error.field == "valid_until"
    assert not Grant.objects.filter(user=worker).exists()


def test_the_form_refuses_a_past_end_date_with_a_message(client, secadmin, worker):
    client.force_login(secadmin)
    resp = client.post("/security/grants/new/", {"username": "zhao", "role": "grid_worker",
                                                 "region": "140213050001001", "valid_until": "2020-01-01"},
                       follow=True)
    body = resp.content.decode()
    assert "有效期至不能早于今天" in body and "已授权" not in body
    assert not Grant.objects.filter(user=worker).exists()


def test_an_end_date_on_the_calendars_last_day_is_granted_until_then(client, secadmin, worker):
    """9999-12-31 has no next midnight (its end once overflowed into a 500): the grant lasts to the end of it."""
    client.force_login(secadmin)
    form = {"username": "zhao", "role": "grid_worker", "region": "140213050001001", "valid_until": "9999-12-31"}
    body = client.post("/security/grants/new/", form, follow=True).content.decode()
    assert "已授权 zhao" in body
    grant = Grant.objects.get(user=worker)
    assert grant.last_day == date(9999, 12, 31) and not grant.is_expired
    assert has_capability(worker, "cases.report")
    assert "至 9999-12-31" in client.get("/security/grants/?q=zhao").content.decode()
    # The same again changes nothing and says so, naming the day.
    audit = AuditEntry.objects.count()
    body = client.post("/security/grants/new/", form, follow=True).content.decode()
    assert "该账号已有此授权（有效期至 9999-12-31）" in body
    assert Grant.objects.get(user=worker).valid_until == grant.valid_until and AuditEntry.objects.count() == audit


# --------------------------------------------------------------------------------- repeating a grant


def test_granting_an_expired_grant_again_renews_it(secadmin, worker, tree):
    grid = tree["140213050001001"]
    old = Grant.objects.create(user=worker, role=Role.GRID_WORKER, region=grid,
                               valid_from=timezone.now() - timedelta(days=60),
                               valid_until=timezone.now() - timedelta(days=1))
    assert not has_capability(worker, "people.view")
    saved = services.add_grant(actor=secadmin, user=worker, role=Role.GRID_WORKER, region=grid)
    assert saved.renewed and saved.grant.pk == old.pk
    old.refresh_from_db()
    assert old.valid_until is None and old.valid_from > timezone.now() - timedelta(minutes=1)
    assert Grant.objects.filter(user=worker).count() == 1
    worker = User.objects.get(pk=worker.pk)
    assert has_capability(worker, "people.view")
    entry = AuditEntry.objects.get(action="access.grant_added", target_id=str(worker.pk))
    assert entry.data["renewed"] is True


def test_granting_a_grant_that_ends_later_extends_it(secadmin, worker, tree):
    grid = tree["140213050001001"]
    soon = timezone.now() + timedelta(days=3)
    grant = Grant.objects.create(user=worker, role=Role.GRID_WORKER, region=grid, valid_until=soon)
    later = timezone.now() + timedelta(days=30)
    assert services.add_grant(actor=secadmin, user=worker, role=Role.GRID_WORKER, region=grid,
                              valid_until=later).renewed
    grant.refresh_from_db()
    assert grant.valid_until == later


@pytest.mark.parametrize("held_days, asked_days", [(None, None), (None, 10), (30, 10), (30, 30)])
def test_a_repeat_that_changes_nothing_is_refused_as_a_duplicate(secadmin, worker, tree, held_days, asked_days):
    grid = tree["140213050001001"]
    now = timezone.now()
    held = now + timedelta(days=held_days) if held_days else None
    Grant.objects.create(user=worker, role=Role.GRID_WORKER, region=grid, valid_until=held)
    asked = held if held_days == asked_days and held else (now + timedelta(days=asked_days) if asked_days else None)
    error = _refused(Conflict, worker, actor=secadmin, user=worker, role=Role.GRID_WORKER, region=grid,
                     valid_until=asked)
    assert "已有此授权" in error.message


def test_the_form_says_renewed_and_the_list_shows_expired_grants(client, secadmin, worker, tree):
    grid = tree["140213050001001"]
    Grant.objects.create(user=worker, role=Role.GRID_WORKER, region=grid,
                         valid_from=timezone.now() - timedelta(days=60), valid_until=timezone.now() - timedelta(days=1))
    client.force_login(secadmin)
    page = client.get("/security/grants/?q=zhao").content.decode()
    assert 'data-grant="grid_worker"' in page and "data-expired" in page
    body = client.post("/security/grants/new/", {"username": "zhao", "role": "grid_worker",
                                                 "region": "140213050001001"}, follow=True).content.decode()
    assert "已续期" in body
    assert "data-expired" not in client.get("/security/grants/?q=zhao").content.decode()
    body = client.post("/security/grants/new/", {"username": "zhao", "role": "grid_worker",
                                                 "region": "140213050001001"}, follow=True).content.decode()
    assert "已有此授权" in body and "已授权" not in body and "已续期" not in body


# ------------------------------------------------------------------------------------------- 三员分立


@pytest.mark.parametrize("held, asked", [
    (Role.GRID_WORKER, Role.SYSTEM_ADMIN),   # an administrator role beside a business role
    (Role.SYSTEM_ADMIN, Role.GRID_WORKER),   # a business role beside an administrator role
    (Role.SYSTEM_ADMIN, Role.AUDIT_ADMIN),   # two administrator roles on one account
    (Role.AUDIT_ADMIN, Role.SECURITY_ADMIN),
])
def test_an_administrator_role_is_never_combined_with_another_role(secadmin, worker, tree, held, asked):
    grid = tree["140213050001001"]
    Grant.objects.create(user=worker, role=held, region=grid if held == Role.GRID_WORKER else None)
    error = _refused(ValidationFailed, worker, actor=secadmin, user=worker, role=asked,
                     region=grid if asked == Role.GRID_WORKER else None)
    assert "三员分立" in error.message


def test_an_expired_business_grant_does_not_block_an_administrator_role(secadmin, worker, tree):
    Grant.objects.create(user=worker, role=Role.GRID_WORKER, region=tree["140213050001001"],
                         valid_from=timezone.now() - timedelta(days=9), valid_until=timezone.now() - timedelta(days=1))
    services.add_grant(actor=secadmin, user=worker, role=Role.AUDIT_ADMIN)
    # ... and the expired business grant cannot be renewed beside it.
    _refused(ValidationFailed, worker, actor=secadmin, user=worker, role=Role.GRID_WORKER,
             region=tree["140213050001001"])


def test_business_roles_still_combine(secadmin, worker, tree):
    services.add_grant(actor=secadmin, user=worker, role=Role.GRID_WORKER, region=tree["140213050001001"])
    services.add_grant(actor=secadmin, user=worker, role=Role.COMMUNITY_STAFF, region=tree["140213050001"])
    assert Grant.objects.filter(user=worker).count() == 2


def test_the_security_administrator_cannot_grant_their_own_account(secadmin, tree):
    _refused(PermissionDenied, secadmin, actor=secadmin, user=secadmin, role=Role.LEADER, region=tree["140213"])


# ----------------------------------------------------- account names and address unlocks (refused, not cut)


def test_a_display_name_longer_than_the_column_is_refused_not_cut(tree):
    sysadmin = user_with(Role.SYSTEM_ADMIN)
    before = (User.objects.count(), AuditEntry.objects.count())
    with pytest.raises(ValidationFailed) as info:
        services.create_account(actor=sysadmin, username="long.name", display_name="张" * 65, password=PASSWORD)
    assert info.value.field == "display_name" and "64" in info.value.message
    assert (User.objects.count(), AuditEntry.objects.count()) == before
    made = services.create_account(actor=sysadmin, username="ok.name", display_name="张" * 64, password=PASSWORD)
    assert made.display_name == "张" * 64


def test_the_account_page_says_the_name_is_too_long(client, tree):
    client.force_login(user_with(Role.SYSTEM_ADMIN))
    body = client.post("/manage/accounts/new/", {"username": "long.name", "display_name": "张" * 65},
                       follow=True).content.decode()
    assert "姓名最多 64 个字符" in body and not User.objects.filter(username="long.name").exists()


@pytest.mark.parametrize("username, zh, en", [
    ("a" * 200, "用户名最多 150 个字符，现为 200 个", "the username is at most 150 characters; this one has 200"),
    ("张 三", "用户名只能包含字母、数字和 @.+-_", "a username may hold only letters, digits and @.+-_"),
    ("   ", "请填写用户名", "a username is required"),
])
def test_a_refused_username_says_what_is_wrong_with_it(client, tree, chinese_afterwards, username, zh, en):
    """A 200-character name was told it held characters it did not: the length is what is wrong."""
    client.force_login(user_with(Role.SYSTEM_ADMIN))
    before = (User.objects.count(), AuditEntry.objects.count())
    body = client.post("/manage/accounts/new/", {"username": username, "display_name": "张三"},
                       follow=True).content.decode()
    assert zh in body and en not in body
    client.post("/i18n/setlang/", {"language": "en", "next": "/manage/accounts/"})
    body = client.post("/manage/accounts/new/", {"username": username, "display_name": "张三"},
                       follow=True).content.decode()
    assert en in body and zh not in body
    assert (User.objects.count(), AuditEntry.objects.count()) == before
    made = services.create_account(actor=None, username="a" * 150, display_name="", password=PASSWORD)
    assert made.username == "a" * 150  # the column's length is allowed


@pytest.mark.parametrize("address", ["not-an-ip", "10.0.0.256", "10.0.0.1; drop"])
def test_unlocking_something_that_is_no_ip_address_says_so(client, secadmin, address):
    from civicgrid.foundation.access.models import LoginAttempt

    before = (LoginAttempt.objects.count(), AuditEntry.objects.count())
    with pytest.raises(ValidationFailed) as info:
        services.unlock_address(actor=secadmin, source_ip=address)
    assert "不是有效的 IP 地址" in info.value.message
    client.force_login(secadmin)
    body = client.post("/security/logins/unlock-address/", {"source_ip": address}, follow=True).content.decode()
    assert "不是有效的 IP 地址" in body and "请提供地址" not in body
    assert (LoginAttempt.objects.count(), AuditEntry.objects.count()) == before
    services.unlock_address(actor=secadmin, source_ip="2001:db8::1")  # IPv6 is an address too


def test_a_street_office_or_rescue_team_gets_its_handlers_through_the_form(client, secadmin, worker, tree):
    """Cases are dispatched to street offices and rescue teams too, and only their department handlers act on
    them: the form once took district departments only. A committee is refused, and nothing is granted."""
    from civicgrid.foundation.orgs.models import Organisation, OrgKind

    office = Organisation.objects.create(code="JD050", name="永泰街道办事处", kind=OrgKind.STREET_OFFICE,
                                         region=tree["140213050"])
    committee = Organisation.objects.create(code="JW001", name="永泰社区居委会", kind=OrgKind.COMMITTEE,
                                            region=tree["140213050001"])
    client.force_login(secadmin)
    body = client.post("/security/grants/new/", {"username": "zhao", "role": "department_handler",
                                                  "department": committee.code}, follow=True).content.decode()
    assert "找不到该代码的" in body and not Grant.objects.filter(user=worker).exists()
    client.post("/security/grants/new/", {"username": "zhao", "role": "department_handler",
                                          "department": office.code}, follow=True)
    assert Grant.objects.get(user=worker).department == office


def test_the_security_pages_say_who_and_what_in_the_readers_language(client, secadmin, worker, tree):
    """Each message is one pair naming the account (and role) in both halves; "长期 / no end" inside the Chinese
    half used to split the pair in the wrong place."""
    import re

    from django.conf import settings
    from django.utils import translation

    def said(response) -> str:
        return " ".join(re.findall(r'<li class="msg[^"]*">(.*?)</li>', response.content.decode(), re.S))

    grid = tree["140213050001001"]
    client.force_login(secadmin)
    form = {"username": "zhao", "role": "grid_worker", "region": grid.code}
    try:
        assert said(client.post("/security/grants/new/", form, follow=True)) == "已授权 zhao：网格员"
        Grant.objects.filter(user=worker).update(valid_until=timezone.now() - timedelta(days=1))
        assert said(client.post("/security/grants/new/", form, follow=True)) == "已续期 zhao：网格员，有效期至 长期"

        client.post("/i18n/setlang/", {"language": "en", "next": "/security/grants/"})
        grant = Grant.objects.get(user=worker)
        assert said(client.post(f"/security/grants/{grant.pk}/revoke/", follow=True)) == (
            "role revoked: zhao, Grid worker")
        assert said(client.post("/security/grants/new/", form, follow=True)) == "role granted: zhao, Grid worker"
    finally:
        translation.activate(settings.LANGUAGE_CODE)


def test_a_repeat_grant_reads_in_one_language(client, secadmin, worker, tree):
    """"长期 / no end" inside the refusal once split the message in the wrong place: both languages showed."""
    services.add_grant(actor=secadmin, user=worker, role=Role.GRID_WORKER, region=tree["140213050001001"])
    client.force_login(secadmin)
    body = client.post("/security/grants/new/", {"username": "zhao", "role": "grid_worker",
                                                 "region": "140213050001001"}, follow=True).content.decode()
    assert "该账号已有此授权（有效期至 长期）" in body and "no end" not in body

