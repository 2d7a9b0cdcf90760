"""The board's htmx refreshes when the session has ended: the browser is sent to the sign-in (or password) page,
and back to the board after it, instead of htmx drawing that whole page inside the board's tiles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

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


# ------------------------------------------------------------------ timed refreshes are not the user's activity

def _session():
    from django.contrib.sessions.models import Session

    return Session.objects.get()


def _idle_nearly_to_the_timeout():
    """As if the user last did something just under the idle timeout ago: the session has a minute left."""
    from django.contrib.sessions.models import Session

    left = timezone.now() + timedelta(minutes=1)
    Session.objects.update(expire_date=left)
    return left


def _board_user(tree):
    c = Client()
    c.force_login(user_with(Role.COMMAND_DISPATCHER, region=tree["140213"]))
    assert c.get(reverse("ui:board")).status_code == 200
    return c


def test_the_board_marks_its_timed_refreshes(tree):
    page = _board_user(tree).get(reverse("ui:board")).content.decode()
    for partial in ("ui:board_figures", "ui:board_lists"):
        assert f'hx-get="{reverse(partial)}?refresh=auto" hx-trigger="every 30s"' in page


@pytest.mark.parametrize("partial", ["ui:board_figures", "ui:board_lists", "ui:board_map"])
def test_timed_refreshes_are_answered_but_do_not_keep_an_idle_session_alive(tree, partial):
    c = _board_user(tree)
    left = _idle_nearly_to_the_timeout()
    for _ in range(3):  # only the board's own refreshes in the idle time
        resp = c.get(reverse(partial), {"refresh": "auto"}, **HTMX)
        assert resp.status_code == 200 and "HX-Redirect" not in resp  # answered while the session lives
        assert settings.SESSION_COOKIE_NAME not in resp.cookies  # the cookie's age not renewed either
        assert _session().expire_date == left  # not extended
    from django.contrib.sessions.models import Session

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))  # the idle timeout has passed
    resp = c.get(reverse(partial), {"refresh": "auto"}, **HTMX)
    assert resp["HX-Redirect"] == reverse("ui:login") + "?next=%2Fboard%2F"
    resp = c.get(reverse("ui:board"))  # signed out
    assert resp.status_code == 302 and resp["Location"].startswith(reverse("ui:login"))


@pytest.mark.parametrize("request_args", [
    ("ui:board", {}, {}),  # the page (re)loaded
    ("ui:board_figures", {}, HTMX),  # an htmx request without the flag: something the user did
    ("ui:board_map", {"zoom": "14"}, {}),  # the map moved by the user
])
def test_what_the_user_does_extends_the_session(tree, request_args):
    name, params, extra = request_args
    c = _board_user(tree)
    left = _idle_nearly_to_the_timeout()
    before = timezone.now()
    resp = c.get(reverse(name), params, **extra)
    assert resp.status_code == 200 and settings.SESSION_COOKIE_NAME in resp.cookies
    assert _session().expire_date >= before + timedelta(seconds=settings.SESSION_COOKIE_AGE) > left
