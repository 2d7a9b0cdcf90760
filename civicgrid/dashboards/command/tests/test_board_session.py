"""The board's htmx refreshes when the session has ended: the browser is sent to the sign-in (or password) page,
and back to the board after it, instead of htmx drawing that whole page inside the board's tiles."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/board/"}


@pytest.mark.parametrize("partial", ["ui:board_figures", "ui:board_lists"])
def test_a_refresh_after_the_session_ended_sends_the_browser_to_sign_in(partial):
    resp = Client().get(reverse(partial), **HTMX)
    assert resp.status_code == 200
    assert resp["HX-Redirect"] == reverse("ui:login") + "?next=%2Fboard%2F"  # back to the board, not the partial
    assert resp.content == b""  # nothing to swap into the tiles


def test_a_refresh_keeps_the_page_s_query_and_ignores_another_site():
    c = Client()
    resp = c.get(reverse("ui:board_figures"), HTTP_HX_REQUEST="true",
                 HTTP_HX_CURRENT_URL="http://testserver/cases/?status=active&overdue=1")
    assert resp["HX-Redirect"] == reverse("ui:login") + "?next=%2Fcases%2F%3Fstatus%3Dactive%26overdue%3D1"
    resp = c.get(reverse("ui:board_figures"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://evil.example/x")
    assert resp["HX-Redirect"] == reverse("ui:login") + "?next=%2F"


def test_a_refresh_of_a_user_who_must_change_the_password_goes_to_the_form(tree):
    user = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"])
    user.must_change_password = True
    user.save()
    c = Client()
    c.force_login(user)
    resp = c.get(reverse("ui:board_figures"), **HTMX)
    assert resp.status_code == 200 and resp["HX-Redirect"] == reverse("ui:password_change")
    assert resp.content == b""


def test_without_htmx_the_redirects_stay_as_they_were(tree):
    resp = Client().get(reverse("ui:board_figures"))
    assert resp.status_code == 302 and resp["Location"].startswith(reverse("ui:login") + "?next=")
    user = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"])
    c = Client()
    c.force_login(user)
    resp = c.get(reverse("ui:board_figures"), **HTMX)  # signed in: the partial itself
    assert resp.status_code == 200 and "HX-Redirect" not in resp and b"board-tiles" in resp.content
