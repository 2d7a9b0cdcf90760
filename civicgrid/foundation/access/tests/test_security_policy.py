"""Identity controls of SECURITY.md (等保 2.0 level 3): password policy, forced change, lockout, sessions,
API tokens, and a production configuration that passes `manage.py check --deploy`."""

import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from civicgrid.foundation.access import services
from civicgrid.foundation.access.middleware import _ALLOWED_PREFIXES
from civicgrid.foundation.access.models import ApiToken, LoginAttempt, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
PASSWORD = "Civic-Test-2026!"


def login(client, username, password=PASSWORD, ip="10.1.1.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def age_attempts(minutes):
    """Move every recorded sign-in attempt (and lock) back in time, as if the window had passed."""
    past = timezone.now() - timedelta(minutes=minutes)
    LoginAttempt.objects.update(at=past)
    LoginAttempt.objects.exclude(locked_until=None).update(locked_until=past)
    User.objects.exclude(locked_until=None).update(locked_until=past)


# ------------------------------------------------------------------------------------------- password policy


@pytest.mark.parametrize(
    "password, why",
    [
        ("Ab1!", "too short"),
        ("abcdefghijk1", "two classes only"),
        ("ABCDEFGHIJ!!", "two classes only"),
        ("1234567890123", "numeric"),
        ("Password123", "common"),
    ],
)
def test_weak_passwords_are_refused(db, password, why):
    user = User.objects.create_user("li.ming", password=PASSWORD)
    with pytest.raises(ValidationFailed):
        services.set_password(actor=user, user=user, new_password=password)
    user.refresh_from_db()
    assert user.check_password(PASSWORD), why


def test_a_refusal_names_every_broken_rule_in_each_language(db):
    """Django's validators translate when they raise: each half is a run in its own language, joined by that
    language's punctuation (not "。；", not Chinese in the English half)."""
    user = User.objects.create_user("li.ming", password=PASSWORD)
    with pytest.raises(ValidationFailed) as info:
        services.set_password(actor=user, user=user, new_password="abcdefg")
    zh, sep, en = info.value.message.partition(" / ")
    assert sep and info.value.field == "password"
    assert zh.startswith("此密码太短") and "至少三类" in zh and "。；" not in zh and zh.endswith("。")
    assert en.startswith("This password is too short") and "Use at least three of: upper case" in en
    assert en.endswith(".") and not any("\u4e00" <= ch <= "\u9fff" for ch in en)


def test_password_similar_to_the_username_is_refused(db):
    user = User.objects.create_user("zhangwei2026", password=PASSWORD)
    with pytest.raises(ValidationFailed):
        services.set_password(actor=user, user=user, new_password="Zhangwei2026!")


def test_history_refuses_recent_passwords_and_the_current_one(db, settings):
    settings.CIVICGRID_PASSWORD_HISTORY = 2
    user = User.objects.create_user("li.ming", password="First-Pass-2026")
    with pytest.raises(ValidationFailed, match="current"):
        services.set_password(actor=user, user=user, new_password="First-Pass-2026")
    services.set_password(actor=user, user=user, new_password="Second-Pass-2026")
    services.set_password(actor=user, user=user, new_password="Third-Pass-2026")
    with pytest.raises(ValidationFailed, match="2"):
        services.set_password(actor=user, user=user, new_password="Second-Pass-2026")
    with pytest.raises(ValidationFailed):
        services.set_password(actor=user, user=user, new_password="First-Pass-2026")
    services.set_password(actor=user, user=user, new_password="Fourth-Pass-2026")
    # Three changes later the first one has left a history of two.
    services.set_password(actor=user, user=user, new_password="First-Pass-2026")
    assert user.check_password("First-Pass-2026")


def test_passwords_are_hashed_with_argon2_in_production():
    assert "Argon2PasswordHasher" in "".join(django_settings.PASSWORD_HASHERS)
    assert any("Argon2" in h for h in django_settings.PASSWORD_HASHERS[:2])


# ------------------------------------------------------------------------------------- forced password change


def _web_pages() -> list[str]:
    """One URL for every page of the site (API and static excluded), URL arguments filled with '1'."""
    from civicgrid.testing.contract import iter_routes

    urls = []
    for route in iter_routes():
        if not route.name or route.name.startswith("api:"):
            continue
        try:
            urls.append(reverse(route.name, kwargs={k: "1" for k in route.kwargs}))
        except NoReverseMatch:
            continue
    return sorted(set(urls))


def test_forced_change_at_first_login_redirects_every_page(client, tree):
    user = user_with(Role.LEADER, region=tree["140213"])
    user.must_change_password = True
    user.save()
    assert login(client, user.username).status_code == 302
    pages = _web_pages()
    assert len(pages) > 10
    change = reverse("ui:password_change")
    for url in pages:
        if url.startswith(_ALLOWED_PREFIXES):
            continue
        resp = client.get(url)
        assert resp.status_code == 302 and resp["Location"] == change, (url, resp.status_code)

    resp = client.post(change, {"old_password": PASSWORD, "new_password1": "Brand-New-2026!",
                                "new_password2": "Brand-New-2026!"})
    assert resp.status_code == 302
    user.refresh_from_db()
    assert not user.must_change_password
    assert client.get("/").status_code == 200


def test_forced_change_also_stops_the_api(client, api_client, tree):
    user = user_with(Role.LEADER, region=tree["140213"])
    user.must_change_password = True
    user.save()
    resp = api_client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD},
                           content_type="application/json")
    assert resp.status_code == 403 and resp.json()["code"] == "password_change_required"
    assert not ApiToken.objects.filter(user=user).exists()


def test_password_expires_after_the_configured_age(client, tree, settings):
    settings.CIVICGRID_PASSWORD_MAX_AGE_DAYS = 90
    user = user_with(Role.LEADER, region=tree["140213"])
    user.password_changed_at = timezone.now() - timedelta(days=91)
    user.save()
    login(client, user.username)
    assert client.get("/").url == reverse("ui:password_change")


def test_an_administrator_set_password_must_be_changed(db):
    admin = user_with(Role.SYSTEM_ADMIN)
    user = User.objects.create_user("wu", password=PASSWORD)
    services.set_password(actor=admin, user=user, new_password="Set-By-Admin-2026")
    user.refresh_from_db()
    assert user.must_change_password


# ------------------------------------------------------------------------------------------------- lockout


def test_account_locks_after_n_failures_and_unlocks_after_the_window(client, tree, settings):
    settings.CIVICGRID_LOGIN_MAX_FAILURES = 3
    user = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    for i in range(3):
        assert login(client, user.username, "wrong", ip=f"10.0.0.{i}").status_code == 401
    user.refresh_from_db()
    assert user.locked_until and user.locked_until > timezone.now()
    resp = login(client, user.username, ip="10.0.0.9")
    assert resp.status_code == 401 and "_auth_user_id" not in client.session  # right password, still locked
    age_attempts(settings.CIVICGRID_LOGIN_LOCK_MINUTES + 1)
    assert login(client, user.username, ip="10.0.0.9").status_code == 302
    user.refresh_from_db()
    assert user.locked_until is None


def test_a_success_restarts_the_account_count(client, tree, settings):
    settings.CIVICGRID_LOGIN_MAX_FAILURES = 3
    user = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    for _ in range(2):
        login(client, user.username, "wrong")
    assert login(client, user.username).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(2):
        login(client, user.username, "wrong")
    user.refresh_from_db()
    assert user.locked_until is None


def test_an_address_is_throttled_across_accounts_and_freed_after_the_window(client, tree, settings):
    settings.CIVICGRID_LOGIN_MAX_FAILURES = 2  # an address gets four times as many tries: 8
    victim = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    for i in range(8):
        login(client, f"guess-{i}", "wrong", ip="203.0.113.7")
    resp = login(client, victim.username, ip="203.0.113.7")
    assert resp.status_code == 401 and "该地址登录失败次数过多" in resp.content.decode()
    victim.refresh_from_db()
    assert victim.locked_until is None  # the address is throttled, not the account
    assert login(client, victim.username, ip="198.51.100.1").status_code == 302  # other addresses unaffected
    client.post("/accounts/logout/")
    age_attempts(settings.CIVICGRID_LOGIN_LOCK_MINUTES + 1)
    assert login(client, victim.username, ip="203.0.113.7").status_code == 302


def test_the_security_admin_frees_an_address(client, tree, settings):
    settings.CIVICGRID_LOGIN_MAX_FAILURES = 1
    user = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    for i in range(4):
        login(client, f"guess-{i}", "wrong", ip="203.0.113.8")
    assert login(client, user.username, ip="203.0.113.8").status_code == 401
    services.unlock_address(actor=user_with(Role.SECURITY_ADMIN), source_ip="203.0.113.8")
    assert login(client, user.username, ip="203.0.113.8").status_code == 302


def test_unknown_and_wrong_password_look_the_same(client, tree):
    user = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    a = login(client, user.username, "wrong").content.decode()
    b = login(client, "no-such-user", "wrong").content.decode()
    shown = services.GENERIC_FAILURE.split(" / ")[0]  # the Chinese interface shows the Chinese half
    assert shown in a and shown in b


@pytest.mark.parametrize("channel", ["web", "api"])
def test_a_lock_answers_alike_whether_or_not_the_username_exists(client, tree, settings, channel):
    """The tester's run: six wrong passwords for a real account ended in 账号已锁定，请 15 分钟后再试, for
    nosuchuser999 always in 用户名或密码错误, which told the guesser which names exist. Now every username tried
    locks alike, and frees alike when the window has passed."""
    user = user_with(Role.GRID_WORKER, region=tree["140213050001001"])

    def answer(username, ip, password="wrong"):
        if channel == "web":
            response = login(client, username, password, ip=ip)
            return response.status_code, re.findall(r'<p class="error" role="alert">(.*?)</p>', response.content.decode())
        response = client.post("/api/v1/auth/token", {"username": username, "password": password},
                               content_type="application/json", REMOTE_ADDR=ip)
        return response.status_code, response.json()

    real = [answer(user.username, "10.2.0.1") for _ in range(7)]
    ghost = [answer("nosuchuser999", "10.2.0.2") for _ in range(7)]
    assert real == ghost
    assert "账号已锁定" in str(real[5]) and "账号已锁定" not in str(real[4])
    assert answer(user.username, "10.2.0.3", PASSWORD) == answer("nosuchuser999", "10.2.0.4", PASSWORD)  # locked
    age_attempts(settings.CIVICGRID_LOGIN_LOCK_MINUTES + 1)
    after = answer(user.username, "10.2.0.5")
    assert after == answer("nosuchuser999", "10.2.0.6") and "账号已锁定" not in str(after)


# ------------------------------------------------------------------------------------------------ sessions


def test_idle_sessions_time_out():
    assert 0 < django_settings.SESSION_COOKIE_AGE <= 30 * 60
    assert django_settings.SESSION_SAVE_EVERY_REQUEST  # the age counts from the last request: an idle timeout
    assert django_settings.SESSION_COOKIE_HTTPONLY


def test_an_idle_session_is_signed_out(client, tree):
    user = user_with(Role.LEADER, region=tree["140213"])
    login(client, user.username)
    assert client.get("/").status_code == 200
    from django.contrib.sessions.models import Session

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    resp = client.get("/")
    assert resp.status_code == 302 and resp["Location"].startswith(reverse("ui:login"))


# ---------------------------------------------------------------------------------------------- API tokens


def test_tokens_expire(api_client, tree, settings):
    settings.CIVICGRID_TOKEN_TTL_HOURS = 1
    user = user_with(Role.LEADER, region=tree["140213"])
    token, raw = ApiToken.issue(user)
    assert token.expires_at - timezone.now() <= timedelta(hours=1)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert api_client.get("/api/v1/regions", **headers).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_client.get("/api/v1/regions", **headers).status_code == 401


def test_tokens_can_be_revoked_by_their_owner_or_the_system_admin(api_client, tree):
    user = user_with(Role.LEADER, region=tree["140213"])
    other = user_with(Role.LEADER, region=tree["140213"])
    token, raw = ApiToken.issue(user)
    with pytest.raises(services.PermissionDenied):
        services.revoke_token(actor=other, token=token)
    services.revoke_token(actor=user_with(Role.SYSTEM_ADMIN), token=token)
    resp = api_client.get("/api/v1/regions", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert resp.status_code == 401 and resp.json()["detail"]


def test_tokens_are_stored_as_hashes_only(db):
    user = User.objects.create_user("t", password=None)
    token, raw = ApiToken.issue(user)
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert raw not in str(row) and raw[3:11] == row["prefix"]


# ---------------------------------------------------------------------------------------- deployment check


def _check_deploy(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "DJANGO_")) and k != "DATABASE_URL"
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        CIVICGRID_TESTING="0",
        CIVICGRID_DEBUG="0",
        CIVICGRID_DATA_DIR=str(tmp_path),
        CIVICGRID_SECRET_KEY=secrets.token_urlsafe(64),
        CIVICGRID_ALLOWED_HOSTS="grid.pingcheng.example.gov.cn",
        **env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=Path(django_settings.BASE_DIR), env=environment, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    done = _check_deploy(tmp_path, CIVICGRID_BEHIND_TLS_PROXY="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_notices_a_deployment_without_tls(tmp_path):
    """The check above can fail: without the TLS settings the same command complains."""
    done = _check_deploy(tmp_path)
    assert done.returncode != 0 and "SECURE_SSL_REDIRECT" in done.stdout + done.stderr
