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


@pytest.mark.parametrize(("typed", "shown"), [
    ("C2026 / 12", "C2026/ 12"),
    ("「X / Y", "X/ Y"),
    ('"a /b" 》', "a/b"),
    ("多行\n /  文字", "多行/ 文字"),
    (None, ""),
])
def test_a_quoted_value_never_splits_or_unbalances_a_message(typed, shown):
    from civicgrid.foundation.core.bilingual import halves, quotable

    value = quotable(typed)
    assert value == shown
    message = f"主案卷不存在：「{value}」 / parent case \"{value}\" not found"
    assert halves(message) == (f"主案卷不存在：「{value}」", f"parent case \"{value}\" not found")


def test_a_quoted_value_is_cut_to_its_limit():
    from civicgrid.foundation.core.bilingual import quotable

    assert quotable("x" * 50) == "x" * 32 and quotable("一二三四五", 3) == "一二三"
