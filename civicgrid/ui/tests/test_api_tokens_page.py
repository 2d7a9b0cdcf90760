"""API tokens end with the password that got them and with the account, and their owner can list and revoke
them (SECURITY.md "Identity": API tokens expire, can be revoked). A deactivated account's web sessions stay
ended when it is reactivated. Every revocation is audited; a refused one changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
PASSWORD = "Civic-Test-2026!"
NEW_PASSWORD = "Grid-Renewed-2027?"


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _token(user, password=PASSWORD) -> str:
    response = Client().post(
        "/api/v1/auth/token",
        {"username": user.username, "password": password},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _works(token: str) -> bool:
    status = Client().get("/api/v1/regions", HTTP_AUTHORIZATION=f"Bearer {token}").status_code
    assert status in (200, 401)
    return status == 200


def _revocations(user) -> list:
    return list(
        AuditEntry.objects.filter(action="auth.token_revoked", target_id=str(user.pk))
        .order_by("pk")
        .values_list("data", flat=True)
    )


def _world() -> tuple:
    return (list(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at")), AuditEntry.objects.count())


@pytest.fixture
def worker(tree):
    return user_with(Role.GRID_WORKER, region=tree["140213051001002"])


def test_changing_the_password_revokes_every_token_of_the_account(worker):
    """The tester's run: a token taken before the change still worked afterwards."""
    old, other_old = _token(worker), _token(worker)
    page = _signed_in(worker)
    elsewhere = _signed_in(worker)
    response = page.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert not _works(old) and not _works(other_old)
    [entry] = _revocations(worker)
    assert entry["reason"] == "password_changed" and len(entry["prefixes"]) == 2
    assert page.get("/").status_code == 200  # the session that changed it goes on …
    assert elsewhere.get("/").status_code == 302  # … the others end
    assert _works(_token(worker, NEW_PASSWORD))  # a new token under the new password


def test_a_refused_password_change_keeps_the_tokens(worker):
    token = _token(worker)
    before = _world()
    response = _signed_in(worker).post(
        "/accounts/password/",
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert _world() == before and _works(token)


def test_a_deactivated_account_stays_signed_out_when_reactivated(tree, worker):
    """The tester's run: after 停用 then 启用, the old browser session worked again."""
    session, token = _signed_in(worker), _token(worker)
    assert session.get("/").status_code == 200
    admin = _signed_in(user_with(Role.SYSTEM_ADMIN))
    assert admin.post(f"/manage/accounts/{worker.pk}/active/", {"active": "0"}).status_code == 302
    assert session.get("/").status_code == 302 and not _works(token)
    assert admin.post(f"/manage/accounts/{worker.pk}/active/", {"active": "1"}).status_code == 302
    response = session.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not _works(token)
    assert _revocations(worker)[-1]["reason"] == "deactivated"
    assert _works(_token(worker))  # signing in afresh works
    fresh = Client()
    assert (
        fresh.post("/accounts/login/", {"username": worker.username, "password": PASSWORD}).status_code == 302
    )
    assert fresh.get("/").status_code == 200


def test_sessions_made_before_the_generation_existed_stay_valid(worker):
    """Generation 0 is Django's own hash: deploying this change signs nobody out."""
    from django.contrib.auth.base_user import AbstractBaseUser

    assert worker.session_generation == 0
    assert worker.get_session_auth_hash() == AbstractBaseUser.get_session_auth_hash(worker)


def test_the_owner_lists_and_revokes_their_own_tokens_audited(tree, worker):
    first, second = _token(worker), _token(worker)
    stranger = user_with(Role.GRID_WORKER, region=tree["140213051001002"], username="stranger")
    theirs = _token(stranger)
    page = _signed_in(worker)
    html = page.get("/accounts/tokens/").content.decode()
    mine = ApiToken.objects.filter(user=worker)
    assert all(f"cg_{t.prefix}" in html for t in mine) and f"cg_{theirs[3:11]}" not in html
    assert "接口令牌" in page.get("/").content.decode()  # reachable from the account menu

    row = mine.get(prefix=first[3:11])
    assert page.post(f"/accounts/tokens/{row.pk}/revoke/").status_code == 302
    assert not _works(first) and _works(second)
    assert _revocations(worker)[-1] == {"prefix": row.prefix}
    assert "已吊销" in page.get("/accounts/tokens/").content.decode()

    before = _world()
    assert page.post(f"/accounts/tokens/{row.pk}/revoke/", follow=True).status_code == 200  # already revoked
    other = ApiToken.objects.get(user=stranger)
    assert page.post(f"/accounts/tokens/{other.pk}/revoke/").status_code == 404  # not theirs: unknown
    assert page.post(f"/accounts/tokens/{2**70}/revoke/").status_code == 404
    assert _world() == before and _works(theirs)

    assert page.post("/accounts/tokens/revoke-all/").status_code == 302
    assert not _works(second) and _works(theirs)
    assert _revocations(worker)[-1] == {"prefixes": [second[3:11]], "reason": "asked"}


def test_the_token_page_needs_a_signed_in_user_and_revoking_needs_post(worker):
    assert Client().get("/accounts/tokens/").status_code == 302
    token = _token(worker)
    row = ApiToken.objects.get(user=worker)
    before = _world()
    opened = _signed_in(worker).get(
        f"/accounts/tokens/{row.pk}/revoke/"
    )  # the form's address opened as a page
    assert opened.status_code == 302 and opened["Location"] == "/accounts/tokens/"
    assert Client().post(f"/accounts/tokens/{row.pk}/revoke/").status_code == 302  # to the sign-in page
    assert _world() == before and _works(token)


@pytest.mark.parametrize(("form", "zh", "en"), [
    ({}, "请填写原密码", "enter your current password"),
    ({"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, "原密码不正确",
     "the current password is wrong"),
    ({"old_password": PASSWORD}, "请填写新密码", "enter a new password"),
    ({"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"},
     "两次输入的新密码不一致", "the new passwords differ"),
])
def test_a_refused_password_change_says_why_in_the_readers_language(worker, form, zh, en):
    """An empty form was told the current password was wrong; and these refusals came in both languages at once,
    where the policy's own came in one."""
    session = _signed_in(worker)
    before = _world()
    page = session.post("/accounts/password/", form).content.decode()
    assert zh in page and en not in page
    session.post("/i18n/setlang/", {"language": "en", "next": "/"})
    response = session.post("/accounts/password/", form)
    assert response.status_code == 400
    assert en in response.content.decode() and zh not in response.content.decode()
    assert _world() == before and worker.__class__.objects.get(pk=worker.pk).check_password(PASSWORD)
