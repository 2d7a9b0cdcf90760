"""Error pages speak the user's language inside the site's frame; API clients get JSON; a broken page never
shows Django's English default."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings
from django.urls import path, reverse

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug")


# This module doubles as a URL conf for the 500 test: Django looks for handler500 on the root URL conf.
urlpatterns = [path("boom/", _boom), path("api/v1/boom/", _boom)]
handler500 = "civicgrid.ui.errors.server_error"


def test_a_missing_page_is_a_chinese_404_inside_the_frame(client_for, tree):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    client = client_for(staff)
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404 and 'data-error="404"' in html
    assert "页面不存在" in html and 'id="nav"' in html and "The requested resource" not in html
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = client.get("/no-such-page/").content.decode()
    assert "Page not found" in html and "页面不存在" not in html


def test_the_scoped_read_paths_own_message_is_shown(client_for, tree):
    """An object out of the user's scope: the 404 says so in the words the code gave it."""
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    missing = (Organisation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    response = client_for(staff).get(reverse("ui:org_detail", args=[missing]))
    assert response.status_code == 404 and "未找到该对象，或不在您的权限范围内" in response.content.decode()


def test_a_bilingual_refusal_shows_the_readers_half(rf):
    from django.core.exceptions import PermissionDenied
    from django.utils import translation

    from civicgrid.ui.errors import _human_message

    refusal = PermissionDenied("您无权执行「派遣」 / your role may not 'dispatch' here")
    with translation.override("zh-hans"):
        assert _human_message(refusal) == "您无权执行「派遣」"
    with translation.override("en"):
        assert _human_message(refusal) == "your role may not 'dispatch' here"
        assert _human_message(PermissionDenied("未找到该对象")) == ""  # Chinese only: the page's own sentence
    assert _human_message(PermissionDenied({"path": "x"})) == ""  # Django's resolver detail


def test_a_forbidden_page_says_whom_to_ask(client_for, tree):
    leader = user_with(Role.LEADER, region=tree["140213"])
    response = client_for(leader).get(reverse("ui:ops_status"))
    html = response.content.decode()
    assert response.status_code == 403 and "无权访问" in html and "系统管理员" in html and "403 Forbidden" not in html


def test_api_and_open311_clients_get_json():
    response = Client().get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
    assert "未找到" in response.json()["detail"]
    response = Client().get("/open311/v2/no-such-endpoint.json")  # Open311 answers in the spec's own format
    assert response.status_code == 404 and str(response.json()[0]["code"]) == "404"


def test_an_expired_form_is_refused_with_a_clear_message(client_for, tree):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    client = client_for(staff)
    client.handler.enforce_csrf_checks = True
    response = client.post(reverse("ui:logout"))
    html = response.content.decode()
    assert response.status_code == 403 and "提交未被受理" in html and "刷新页面" in html
    assert client.get("/").status_code == 200  # still signed in: the refused sign-out changed nothing


@override_settings(ROOT_URLCONF=__name__)
def test_a_server_error_is_a_bilingual_page_and_json_for_the_api():
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    html = response.content.decode()
    assert response.status_code == 500 and 'data-error="500"' in html
    assert "服务器内部错误" in html and "Something went wrong" in html and "a bug" not in html
    response = client.get("/api/v1/boom/")
    assert response.status_code == 500 and "服务器内部错误" in json.loads(response.content)["detail"]


def test_a_message_read_address_opened_as_a_page_leads_to_the_inbox(client_for, tree):
    from civicgrid.foundation.notify.models import Notification

    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    response = client_for(staff).get(reverse("ui:inbox_read", args=[12345]))
    assert response.status_code == 302 and response["Location"] == reverse("ui:inbox")
    assert not Notification.objects.exists()
    # htmx asks for fragments, not pages: it keeps Django's 405
    assert client_for(staff).get(reverse("ui:inbox_read", args=[12345]), HTTP_HX_REQUEST="true").status_code == 405
