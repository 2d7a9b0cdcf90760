"""Chinese first: the browser's language does not switch the UI; the user's explicit choice does."""

import pytest

pytestmark = pytest.mark.django_db


def test_english_browser_still_gets_chinese(client):
    resp = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert resp.status_code == 200
    assert "登录" in resp.content.decode() and 'lang="zh-hans"' in resp.content.decode()


def test_explicit_choice_switches_to_english(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    resp = client.get("/accounts/login/")
    assert 'lang="en"' in resp.content.decode()
