"""Pages that poll themselves while something runs in the background (a router retraining, an import job) mark
their polls as automatic, as the board does: the polls are answered while the session lives but do not keep an
idle session alive, and once it has ended the browser is sent to sign in and back to the page."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.people.tests.factories import users
from civicgrid.integrations.router.models import RetrainRun
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def _retraining(tree):
    user = user_with(Role.SYSTEM_ADMIN, region=tree["140213"], username="router-admin")
    run = RetrainRun.objects.create(requested_by=user, state=RetrainRun.State.RUNNING)
    return user, reverse("ui:router_home"), reverse("ui:router_run", args=[run.pk]), "every 2s"


def _import(tree):
    from civicgrid.foundation.imports import services
    from civicgrid.foundation.imports.tests.test_import_residents import csv_bytes, rows

    user = users(tree)["community"]
    job = services.create_job(actor=user, table="resident", file_name="a.csv", data=csv_bytes(rows(2)))
    return user, reverse("ui:import_job", args=[job.pk]), reverse("ui:import_progress", args=[job.pk]), "every 1s"


POLLS = pytest.mark.parametrize("poll", [_retraining, _import], ids=["router-run", "import-progress"])


def _signed_in(tree, poll):
    user, page, fragment, every = poll(tree)
    c = Client()
    c.force_login(user)
    assert c.get(page).status_code == 200
    return c, page, fragment, every


def _htmx(page: str) -> dict:
    return {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": f"http://testserver{page}"}


@POLLS
def test_the_page_and_the_fragment_it_swaps_in_mark_the_poll(tree, poll):
    c, page, fragment, every = _signed_in(tree, poll)
    marked = f'hx-get="{fragment}?refresh=auto" hx-trigger="{every}"'
    assert marked in c.get(page).content.decode()
    # the fragment replaces the polling element (outerHTML): the next poll is marked too
    resp = c.get(fragment, {"refresh": "auto"}, **_htmx(page))
    assert resp.status_code == 200 and marked in resp.content.decode()


@POLLS
def test_polls_are_answered_but_do_not_keep_an_idle_session_alive(tree, poll):
    c, page, fragment, _ = _signed_in(tree, poll)
    left = timezone.now() + timedelta(minutes=1)  # the user last did something just under the timeout ago
    Session.objects.update(expire_date=left)
    for _ in range(3):
        resp = c.get(fragment, {"refresh": "auto"}, **_htmx(page))
        assert resp.status_code == 200 and "HX-Redirect" not in resp
        assert settings.SESSION_COOKIE_NAME not in resp.cookies
        assert Session.objects.get().expire_date == left
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))  # the idle timeout has passed
    resp = c.get(fragment, {"refresh": "auto"}, **_htmx(page))
    assert resp.status_code == 200 and resp.content == b""  # nothing swapped into the page
    assert resp["HX-Redirect"] == reverse("ui:login") + "?next=" + quote(page, safe="")  # back to the page
    assert c.get(page).status_code == 302  # signed out


@POLLS
def test_a_request_without_the_flag_still_extends_the_session(tree, poll):
    c, page, fragment, _ = _signed_in(tree, poll)
    left = timezone.now() + timedelta(minutes=1)
    Session.objects.update(expire_date=left)
    before = timezone.now()
    resp = c.get(fragment, **_htmx(page))
    assert resp.status_code == 200 and settings.SESSION_COOKIE_NAME in resp.cookies
    assert Session.objects.get().expire_date >= before + timedelta(seconds=settings.SESSION_COOKIE_AGE) > left
