"""The system administrator's account page in both languages: a refused password names every rule it broke,
joined as each language punctuates, and every flash message speaks the reader's language only."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from civicgrid.foundation.access.models import User
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def chinese_afterwards():
    """A request in English leaves English active in this thread: switch back for the tests that follow."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def sysadmin(tree) -> Client:
    client = Client()
    client.force_login(user_with(Role.SYSTEM_ADMIN))
    return client


def english(client: Client) -> Client:
    assert client.post("/i18n/setlang/", {"language": "en", "next": "/manage/accounts/"}).status_code == 302
    return client


def flash(client: Client, url: str, data: dict) -> str:
    page = client.post(url, data, follow=True).content.decode()
    return " ".join(re.findall(r'<li class="msg[^"]*">(.*?)</li>', page, re.S))


def test_a_weak_password_names_every_rule_in_chinese(sysadmin):
    text = flash(sysadmin, "/manage/accounts/new/", {"username": "weak", "password": "abcdefg"})
    assert "10" in text and "大写字母、小写字母、数字、符号" in text  # Django's length rule and ours
    assert "。；" not in text and "；；" not in text and " / " not in text and "upper case" not in text
    assert not User.objects.filter(username="weak").exists()


def test_a_weak_password_names_every_rule_in_english(sysadmin, chinese_afterwards):
    text = flash(english(sysadmin), "/manage/accounts/new/", {"username": "weak", "password": "abcdefg"})
    assert "This password is too short" in text and "Use at least three of: upper case" in text
    assert not re.search(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]", text), text
    assert not User.objects.filter(username="weak").exists()


def test_the_first_password_and_the_disabled_account_in_one_language(sysadmin, tree, chinese_afterwards):
    text = flash(sysadmin, "/manage/accounts/new/", {"username": "wang.li", "display_name": "王丽"})
    first = re.search(r"初始密码（只显示这一次）：([A-Za-z0-9-]+)", text)
    assert first and "wang.li" in text and "shown once" not in text and " / " not in text
    assert User.objects.get(username="wang.li").check_password(first.group(1))
    worker = User.objects.get(username="wang.li")
    text = flash(sysadmin, f"/manage/accounts/{worker.pk}/active/", {"active": "0"})
    assert text == "已停用账号 wang.li"

    english(sysadmin)
    text = flash(sysadmin, "/manage/accounts/new/", {"username": "zhao.min"})
    first = re.search(r"First password \(shown once\): ([A-Za-z0-9-]+)", text)
    assert first and "account zhao.min created" in text and "初始密码" not in text
    assert User.objects.get(username="zhao.min").check_password(first.group(1))
    text = flash(sysadmin, f"/manage/accounts/{worker.pk}/active/", {"active": "1"})
    assert text == "account wang.li enabled"
    text = flash(sysadmin, f"/manage/accounts/{worker.pk}/active/", {"active": "0"})
    assert text == "account wang.li disabled"
