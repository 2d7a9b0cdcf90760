"""A bilingual service message reaches the reader in one language: the half of "中文 / English" they read."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.testing.builders import user_with
from civicgrid.ui.language import one_language


def test_the_readers_half_of_a_pair_and_anything_else_as_it_is():
    with translation.override("zh-hans"):
        assert one_language("请填写标题 / a title is required") == "请填写标题"
    with translation.override("en"):
        assert one_language("请填写标题 / a title is required") == "a title is required"
        assert one_language("2026/11/30 截止") == "2026/11/30 截止"  # not a pair
        assert one_language("A / B") == "A / B"  # no Chinese before the slash
        assert one_language("永泰 / 古城") == "永泰 / 古城"  # Chinese on both sides: a list, not a pair
        assert one_language("1号楼 / 2号楼") == "1号楼 / 2号楼"
        # English that quotes the Chinese values a file or form takes is still the English half.
        assert one_language("须填“是”或“否”：“对” / must be 是 or 否") == "must be 是 or 否"
        assert one_language("处置时限须为数字：「三天」 / the time limit must be a number: 三天") == (
            "the time limit must be a number: 三天")
        # Two pairs run together are shown whole rather than cut to a part of each.
        assert one_language("已创建 / created。初始密码 / password: x") == "已创建 / created。初始密码 / password: x"
    with translation.override("zh-hans"):
        assert one_language("须填“是”或“否”：“对” / must be 是 or 否") == "须填“是”或“否”：“对”"


def test_a_quoted_value_holding_the_separator_does_not_split_the_message():
    """A name someone typed may hold " / " itself (the demo's Open311 client is "演示客户端 / demo client"):
    quoted, it stays whole in its half; the pair splits at the separator between the halves."""
    message = '客户端「演示客户端 / demo client」已存在 / a client named "演示客户端 / demo client" already exists'
    with translation.override("zh-hans"):
        assert one_language(message) == "客户端「演示客户端 / demo client」已存在"
        assert one_language("名称“甲 / 乙”已占用 / the name “甲 / 乙” is taken") == "名称“甲 / 乙”已占用"
    with translation.override("en"):
        assert one_language(message) == 'a client named "演示客户端 / demo client" already exists'
        assert one_language("名称《甲 / 乙》已占用 / the name 《甲 / 乙》 is taken") == "the name 《甲 / 乙》 is taken"
        # A mark left open counts for nothing: the first separator, as before.
        assert one_language("名称「甲已占用 / the name 甲 is taken") == "the name 甲 is taken"
        # Outside quotation marks a second pair still shows the text whole.
        assert one_language("已创建「甲」 / created。初始密码 / password") == "已创建「甲」 / created。初始密码 / password"


@pytest.mark.django_db
def test_a_refused_sign_in_speaks_one_language():
    client = Client()
    html = client.post(reverse("ui:login"), {"username": "nobody", "password": "wrong"}).content.decode()
    assert "用户名或密码错误" in html and "wrong username or password" not in html
    client.cookies["django_language"] = "en"
    html = client.post(reverse("ui:login"), {"username": "nobody", "password": "wrong"}).content.decode()
    assert "wrong username or password" in html.lower() and "用户名或密码错误" not in html


@pytest.mark.django_db
def test_a_flash_message_speaks_one_language(client_for):
    admin = client_for(user_with(Role.SYSTEM_ADMIN))
    OutboxEvent.objects.create(topic="case.reported", attempts=bus.MAX_ATTEMPTS)
    html = admin.post(reverse("ui:ops_retry_events"), {"all": "1"}, follow=True).content.decode()
    assert "已重新排队 1 条领域事件" in html and "queued again" not in html
    admin.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = admin.post(reverse("ui:ops_retry_events"), {"all": "1"}, follow=True).content.decode()
    assert "0 queued again" in html and "已重新排队" not in html
