"""HEAD on a page that answers GET (a resident's follow link and its QR code, 我的上报, the health check) answers
as GET does, without the body: link checkers, messaging apps previewing a follow link sent by text message and
HEAD-based monitors ask so. Read pages were GET-only, so a HEAD was a 405 that the form-address redirect took for
a POST-only form: a 302 to the site's home page (from /healthz and the follow page alike), with the flash
"该地址只接受页面上的提交" queued for the next page. A POST-only address still redirects a GET or HEAD as before."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from civicgrid.apps.cases.tests.conftest import loop, report  # noqa: F401

pytestmark = pytest.mark.django_db
NOT_SUBMITTED = "该地址只接受页面上的提交"


def head_like_get(client: Client, url: str) -> None:
    got = client.get(url)
    assert got.status_code == 200, (url, got.status_code)
    answered = client.head(url)
    assert answered.status_code == 200, (url, answered.status_code, answered.get("Location"))
    assert answered["Content-Type"] == got["Content-Type"] and answered.content == b""
    assert NOT_SUBMITTED not in client.get(url).content.decode(errors="replace")


def test_a_follow_link_and_its_qr_code_answer_head(loop):
    token = report(loop).reporters.get().follow_token
    anyone = Client()
    for url in (reverse("ui:follow", args=[token]), reverse("ui:follow_qr", args=[token, "svg"]),
                reverse("ui:follow_qr", args=[token, "png"])):
        head_like_get(anyone, url)


def test_signed_in_pages_and_the_health_check_answer_head(loop):
    report(loop)
    worker = Client()
    worker.force_login(loop.worker)
    for url in (reverse("ui:my_reports"), reverse("ui:case_report"), "/inbox/"):
        head_like_get(worker, url)
    response = Client().head("/healthz")
    assert response.status_code == 200 and "Location" not in response


def test_a_post_only_address_still_leads_a_head_to_its_page(loop):
    token = report(loop).reporters.get().follow_token
    response = Client().head(reverse("ui:follow_rate", args=[token]))
    assert response.status_code == 302 and response["Location"] == reverse("ui:follow", args=[token])
