"""The follow page's limit and its forms' text: the site's one rate limiter (shared by every process) answers a 429
page in the reader's language with Retry-After, and a form sent with bytes that are not UTF-8 is refused; neither
changes anything."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from civicgrid.apps.cases.models import CaseReporter, Status
from civicgrid.apps.cases.tests.conftest import close_loop, jpeg, loop, report, world_counts  # noqa: F401
from civicgrid.foundation.core import ratelimit

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


def closed_case(loop):
    return close_loop(loop, report(loop))


def _spend(c: Client, token: str, n: int) -> None:
    for _ in range(n):
        assert c.get(reverse("ui:follow", args=[token])).status_code == 200


@pytest.mark.parametrize("english", [False, True], ids=["zh", "en"])
def test_over_the_limit_a_429_page_in_the_readers_language_with_retry_after(loop, settings, english):
    settings.CIVICGRID_FOLLOW_ADDRESS_BURST = 3
    settings.CIVICGRID_FOLLOW_ADDRESS_RATE_PER_MINUTE = 1
    case = report(loop)
    token = CaseReporter.objects.get(case=case).follow_token
    c = Client()
    if english:
        c.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    _spend(c, token, 3)
    refused = c.get(reverse("ui:follow", args=[token]))
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Content-Type"].startswith("text/html")
    html = refused.content.decode()
    assert 'data-error="429"' in html and case.number not in html
    if english:
        assert "Too many requests; please try again later" in html and "too many requests, retry in" in html and "频繁" not in html
    else:
        assert "请求过于频繁，请稍后再试" in html and "操作过于频繁，请" in html and "too many" not in html
    # the QR code is the same door
    assert c.get(reverse("ui:follow_qr", args=[token, "svg"])).status_code == 429


def test_the_limit_is_the_shared_bucket_not_a_per_process_count(loop, settings):
    """The bucket is the site's limiter's (`core.ratelimit`), which every process takes from: spent elsewhere (by
    another worker, here straight in the store), this process refuses too."""
    settings.CIVICGRID_FOLLOW_ADDRESS_BURST = 2
    case = report(loop)
    token = CaseReporter.objects.get(case=case).follow_token
    limit = ratelimit.configured("CIVICGRID_FOLLOW_ADDRESS_RATE_PER_MINUTE", "CIVICGRID_FOLLOW_ADDRESS_BURST")
    for _ in range(2):
        assert ratelimit.take("follow:addr:127.0.0.1", limit) == 0.0
    assert Client().get(reverse("ui:follow", args=[token])).status_code == 429


@pytest.mark.parametrize("form, data", [("follow_rate", {"score": "1", "comment": "很差"}),
                                        ("follow_reopen", {"reason": "又堆满了"})])
def test_a_refused_post_over_the_limit_changes_nothing(loop, settings, form, data):
    settings.CIVICGRID_FOLLOW_ADDRESS_BURST = 2
    case = closed_case(loop)
    token = CaseReporter.objects.get(case=case).follow_token
    c = Client()
    _spend(c, token, 2)
    before = world_counts()
    refused = c.post(reverse(f"ui:{form}", args=[token]), data)
    assert refused.status_code == 429 and refused.has_header("Retry-After")
    assert world_counts() == before
    case.refresh_from_db()
    assert case.status == Status.CLOSED and case.satisfaction is None


@pytest.mark.parametrize("english", [False, True], ids=["zh", "en"])
@pytest.mark.parametrize("form, body, field", [
    ("follow_reopen", b"reason=%FF%FE", "reason"),
    ("follow_reopen", b"reason=%E5%8F%88%FF", "reason"),
    ("follow_rate", b"score=4&comment=%FF%FE", "comment"),
    ("follow_rate", b"score=4&comment=ok&%FF=1", None),
])
def test_a_form_sent_with_bytes_that_are_not_utf8_is_refused_and_changes_nothing(loop, form, body, field,
                                                                                 english):
    case = closed_case(loop)
    token = CaseReporter.objects.get(case=case).follow_token
    c = Client()
    if english:
        c.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    before = world_counts()
    refused = c.post(reverse(f"ui:{form}", args=[token]), body, content_type=FORM)
    assert refused.status_code == 400
    html = refused.content.decode()
    if english:
        assert "is not valid UTF-8 text and was not saved" in html and "UTF-8 编码" not in html
    else:
        assert "不是有效的 UTF-8 编码" in html and "not valid UTF-8" not in html
    if field == "reason":
        assert ("「原因」" if not english else "reason") in html
    assert "\ufffd" not in html  # what could not be read is not put back into the form
    assert world_counts() == before
    case.refresh_from_db()
    assert case.status == Status.CLOSED and case.reopen_count == 0 and case.satisfaction is None
    # the same form in UTF-8 goes through
    good = {"follow_reopen": b"reason=%E5%8F%88%E5%A0%86%E6%BB%A1%E4%BA%86",
            "follow_rate": b"score=4&comment=%E5%BE%88%E5%A5%BD"}[form]
    assert c.post(reverse(f"ui:{form}", args=[token]), good, content_type=FORM).status_code == 302
    case.refresh_from_db()
    assert (case.status == Status.ACCEPTED) if form == "follow_reopen" else (case.satisfaction == 4)


def test_a_multipart_form_with_bytes_that_are_not_utf8_is_refused_too(loop):
    case = closed_case(loop)
    token = CaseReporter.objects.get(case=case).follow_token
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"reason\"\r\n\r\n").encode() + b"\xff\xfe" + \
        f"\r\n--{boundary}--\r\n".encode()
    before = world_counts()
    refused = Client().post(reverse("ui:follow_reopen", args=[token]), body,
                            content_type=f"multipart/form-data; boundary={boundary}")
    assert refused.status_code == 400 and "不是有效的 UTF-8 编码" in refused.content.decode()
    assert world_counts() == before
    case.refresh_from_db()
    assert case.status == Status.CLOSED and case.reopen_count == 0
