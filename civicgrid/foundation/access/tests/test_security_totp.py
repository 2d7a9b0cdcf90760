"""Two factors for privileged roles: enrolment at the web sign-in, codes at every later sign-in and on the API."""

import pyotp
import pytest
from django.core.cache import cache

from civicgrid.foundation.access import totp
from civicgrid.foundation.access.models import ApiToken, LoginAttempt, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
PASSWORD = "Civic-Test-2026!"


@pytest.fixture(autouse=True)
def totp_for_admins(settings):
    settings.CIVICGRID_TOTP_ROLES = ["system_admin", "security_admin", "audit_admin"]
    cache.clear()


def login_password(client, user):
    return client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})


def code_for(user, offset_steps=0):
    import time

    user.refresh_from_db()
    return pyotp.TOTP(user.totp_secret).at(time.time() + offset_steps * totp.INTERVAL)


def test_roles_outside_the_setting_sign_in_with_a_password_alone(client, tree):
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    resp = login_password(client, worker)
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert not totp.required(worker)


def test_first_sign_in_enrols_and_audits(client):
    admin = user_with(Role.AUDIT_ADMIN)
    resp = login_password(client, admin)
    assert resp.status_code == 200
    admin.refresh_from_db()
    body = resp.content.decode()
    assert admin.totp_secret and admin.totp_secret in body and "otpauth://totp/" in body
    assert resp["Cache-Control"] == "no-store"
    assert "_auth_user_id" not in client.session  # not signed in before the code
    assert client.get("/").status_code == 302

    resp = client.post("/accounts/login/", {"step": "otp", "otp": code_for(admin)})
    assert resp.status_code == 302
    admin.refresh_from_db()
    assert admin.totp_confirmed
    assert client.session["_auth_user_id"] == str(admin.pk)
    assert AuditEntry.objects.filter(action="auth.totp_enrolled", target_id=str(admin.pk)).count() == 1
    assert AuditEntry.objects.filter(action="auth.login", target_id=str(admin.pk)).count() == 1


def test_enrolment_secret_is_stable_across_reloads_until_confirmed(client):
    admin = user_with(Role.SECURITY_ADMIN)
    login_password(client, admin)
    first = User.objects.get(pk=admin.pk).totp_secret
    login_password(client, admin)
    assert User.objects.get(pk=admin.pk).totp_secret == first


def test_wrong_code_is_refused_recorded_and_counts_towards_the_lock(client, settings):
    settings.CIVICGRID_LOGIN_MAX_FAILURES = 3
    admin = user_with(Role.SYSTEM_ADMIN)
    login_password(client, admin)
    client.post("/accounts/login/", {"step": "otp", "otp": code_for(admin)})
    client.post("/accounts/logout/")

    login_password(client, admin)
    resp = client.post("/accounts/login/", {"step": "otp", "otp": "000000" if code_for(admin) != "000000" else "111111"})
    assert resp.status_code == 401
    assert "_auth_user_id" not in client.session
    assert LoginAttempt.objects.filter(username=admin.username, reason="bad_otp").count() == 1
    failed = AuditEntry.objects.filter(action="auth.login_failed")
    assert any((e.data or {}).get("reason") == "bad_otp" for e in failed)
    for _ in range(2):
        client.post("/accounts/login/", {"step": "otp", "otp": "12345x"})
    admin.refresh_from_db()
    assert admin.locked_until is not None
    # Even the right code is refused while locked.
    resp = client.post("/accounts/login/", {"step": "otp", "otp": code_for(admin, 1)})
    assert resp.status_code == 401 and "_auth_user_id" not in client.session


def test_a_code_cannot_be_replayed(client):
    admin = user_with(Role.SYSTEM_ADMIN)
    login_password(client, admin)
    code = code_for(admin)
    assert client.post("/accounts/login/", {"step": "otp", "otp": code}).status_code == 302
    client.post("/accounts/logout/")
    login_password(client, admin)
    assert client.post("/accounts/login/", {"step": "otp", "otp": code}).status_code == 401


def test_second_step_without_the_password_step_goes_nowhere(client):
    admin = user_with(Role.SYSTEM_ADMIN)
    resp = client.post("/accounts/login/", {"step": "otp", "otp": "123456"})
    assert resp.status_code == 401 and "_auth_user_id" not in client.session
    assert not User.objects.get(pk=admin.pk).totp_confirmed


def test_api_token_needs_the_code_of_an_enrolled_account(client, api_client):
    admin = user_with(Role.AUDIT_ADMIN)
    url = "/api/v1/auth/token"
    resp = api_client.post(url, {"username": admin.username, "password": PASSWORD}, content_type="application/json")
    assert resp.status_code == 401 and resp.json()["code"] == "otp_enrolment_required"

    login_password(client, admin)
    client.post("/accounts/login/", {"step": "otp", "otp": code_for(admin)})

    resp = api_client.post(url, {"username": admin.username, "password": PASSWORD}, content_type="application/json")
    assert resp.status_code == 401 and resp.json()["code"] == "otp_required"
    resp = api_client.post(
        url, {"username": admin.username, "password": PASSWORD, "otp": "99999"}, content_type="application/json"
    )
    assert resp.status_code == 401 and resp.json()["code"] == "otp_invalid"
    assert ApiToken.objects.filter(user=admin).count() == 0
    resp = api_client.post(
        url, {"username": admin.username, "password": PASSWORD, "otp": code_for(admin, 1)},
        content_type="application/json",
    )
    assert resp.status_code == 200 and resp.json()["token"].startswith("cg_")


def test_security_admin_resets_a_lost_factor(client):
    admin = user_with(Role.SYSTEM_ADMIN)
    login_password(client, admin)
    client.post("/accounts/login/", {"step": "otp", "otp": code_for(admin)})
    security = user_with(Role.SECURITY_ADMIN)
    from civicgrid.foundation.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        totp.reset(actor=admin, user=admin)
    totp.reset(actor=security, user=admin)
    admin.refresh_from_db()
    assert not admin.totp_secret and not admin.totp_confirmed
    assert AuditEntry.objects.filter(action=totp.TOTP_RESET, target_id=str(admin.pk)).exists()


def test_superuser_keyword_covers_superusers(settings):
    settings.CIVICGRID_TOTP_ROLES = ["superuser"]
    root = User.objects.create_superuser("root", password=PASSWORD)
    assert totp.required(root)
    settings.CIVICGRID_TOTP_ROLES = []
    assert not totp.required(root)
