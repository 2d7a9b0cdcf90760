"""A refused request (PermissionDenied → 403) is one warning line in the log (who, what, why), without the
traceback Django's `django.request` logger gives it; the answer is the one Django gives.

This module doubles as a URL conf (the site's, and a view that refuses with a reason)."""

from __future__ import annotations

import logging
import re

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.test import override_settings
from django.urls import re_path, reverse

from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with
from config.urls import urlpatterns as site_urlpatterns

pytestmark = pytest.mark.django_db
REASON = "您无权执行「派遣」 / your role may not 'dispatch' here"


def _refuse(request, rest=""):
    raise PermissionDenied(REASON)


urlpatterns = [re_path(r"^refuse-for-test/(?P<rest>[\s\S]*)$", _refuse), *site_urlpatterns]
handler403 = "civicgrid.ui.errors.permission_denied"


def _records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name in ("django.request", "civicgrid.ui.errors")]


def _page(response) -> str:
    """The page without what differs from one answer to the next (the CSP nonce, the CSRF token)."""
    html = re.sub(r'(nonce|csrfmiddlewaretoken" value|csrf-token" content)="[^"]*"', r'\1=""',
                  response.content.decode())
    return re.sub(r'"X-CSRFToken": "[^"]*"', '"X-CSRFToken": ""', html)


def test_a_refusal_is_one_warning_line_and_the_page_is_djangos(client_for, tree, caplog):
    leader = user_with(Role.LEADER, region=tree["140213"])
    client = client_for(leader)
    url = reverse("ui:ops_status")
    with caplog.at_level(logging.INFO):
        response = client.get(url)
    assert response.status_code == 403
    [record] = _records(caplog)
    assert record.name == "civicgrid.ui.errors" and record.levelno == logging.WARNING
    assert record.exc_info is None and record.exc_text is None
    assert record.getMessage() == f"refused: user={leader.pk} GET {url} reason=-"
    # the same answer as without the middleware (when Django logged it with the traceback)
    caplog.clear()
    plain = [m for m in settings.MIDDLEWARE if m != "civicgrid.ui.errors.RefusalLogMiddleware"]
    with override_settings(MIDDLEWARE=plain), caplog.at_level(logging.INFO):
        before = client_for(leader).get(url)  # a new client: the middleware is loaded with the first request
    assert before.status_code == 403 and _page(before) == _page(response)
    assert [r.exc_info is not None for r in _records(caplog)] == [True]  # what the middleware replaces


@override_settings(ROOT_URLCONF=__name__)
def test_the_line_says_why_and_keeps_a_typed_path_on_it(client_for, tree, caplog):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    client = client_for(staff)
    with caplog.at_level(logging.INFO):
        response = client.get("/refuse-for-test/x%0Aforged line")
    assert response.status_code == 403 and "您无权执行「派遣」" in response.content.decode()
    [record] = _records(caplog)
    assert record.exc_info is None
    assert record.getMessage() == (f"refused: user={staff.pk} GET /refuse-for-test/x\\nforged line "
                                   f"reason={REASON}")
    assert "\n" not in record.getMessage()
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    response = client.get("/refuse-for-test/x")
    assert response.status_code == 403 and "your role may not" in response.content.decode()
