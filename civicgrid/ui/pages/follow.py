"""The reporter's follow page (`follow/<token>/`): no sign-in, the token handed out at report time is the key.

It shows the case's public status (number, status, category — its English name on the English page, when it
has one —, dates and the public steps: no names, phones or addresses), takes one satisfaction rating (1–5) after closing, and lets the reporter ask for the case to be
reopened within the configured days (the page states until when, and once past, that the time is over). Staff
signed in see the page but neither rate nor reopen through a reporter's link (the services refuse them too). The page's own address is also drawn as a QR code (`qr.svg`/`qr.png`). Everything goes through `cases.services` (`follow_status`, `rate`,
`reopen_by_token`), which find the case by token and check what the token may do.

Tokens are 32 random characters, so guessing is hopeless; a per-address limit (`CIVICGRID_FOLLOW_ADDRESS_*`, the site's
one rate limiter) keeps trying pointless anyway.
"""

from __future__ import annotations

import uuid

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from civicgrid.apps.cases import services
from civicgrid.apps.cases.api import FOLLOW_THROTTLE
from civicgrid.apps.cases.services.follow import reporter_for
from civicgrid.apps.cases_documents import qr
from civicgrid.apps.categories.models import display_name
from civicgrid.foundation.access.endpoints import non_data_endpoint
from civicgrid.foundation.core import ratelimit
from civicgrid.foundation.core.errors import CivicgridError, NotFound
from civicgrid.foundation.core.text import require_utf8_form
from civicgrid.foundation.workflow.steps import MAX_NOTE

from .cases_shared import error_text, success_once

# A link that finds no report: the same sentence in either language ("中文 / English", `ui.language.one_language`).
LINK_INVALID = "链接无效或已失效 / This link is invalid or has expired"
# The session's note of the case its account has just reported through a desk form (/cases/new/): its follow page
# then opens with the success card the phone page shows, the link to keep (once: the note is taken).
JUST_REPORTED = "civicgrid:just_reported"
# How a refusal names the forms' inputs (its Chinese half; the English half names the field).
FORM_LABELS = {"reason": "原因", "comment": "评价内容", "score": "评分"}
SCORES = [(5, _("非常满意")), (4, _("满意")), (3, _("基本满意")), (2, _("不满意")), (1, _("非常不满意"))]


def throttled(request) -> ratelimit.RateLimited | None:
    """The refusal once an address has spent its follow requests (`CIVICGRID_FOLLOW_ADDRESS_*`: the site's one
    limiter, shared by every process), else None. A failed bucket store lets the request through, as public
    reporting does. The bucket is the follow API's too (`cases.api.FOLLOW_THROTTLE`): one door, one limit."""
    return FOLLOW_THROTTLE.refusal(request)


def _too_many(request, refused: ratelimit.RateLimited) -> HttpResponse:
    """The 429 page, in the reader's language, with Retry-After: nothing was done."""
    response = render(request, "ui/error.html", {"status": 429, "title": _("请求过于频繁，请稍后再试"),
                                                 "detail": error_text(refused), "signin": False}, status=429)
    for name, value in refused.headers.items():
        response[name] = value
    return response


def _typed(request, name: str) -> str:
    """What was typed into a refused form's input, to show in it again: a NUL, or bytes that were not UTF-8 (read as
    U+FFFD), refused, are left out so that sending it again goes through."""
    return request.POST.get(name, "").replace("\x00", "").replace("\ufffd", "")


def _status_or_404(token: str, request=None) -> dict:
    try:
        return services.follow_status(token, viewer=getattr(request, "user", None))
    except NotFound:
        raise Http404(LINK_INVALID) from None


def _render(request, token: str, status: int = 200, **extra):
    info = _status_or_404(token, request)
    # The category in the reader's language: its English name on the English page when it has one.
    info["category"] = display_name(info["category"], info.get("category_en", ""))
    # Each form's one-time key: the same form sent again (its answer lost) is answered as the first time.
    keys = {"rate": uuid.uuid4().hex, "reopen": uuid.uuid4().hex}
    return render(request, "follow/status.html", {"info": info, "token": token, "scores": SCORES,
                                                  "link": qr.follow_link(token, request), "form_keys": keys,
                                                  "max_note": MAX_NOTE, **extra},
                  status=status)


@never_cache
@require_safe
def follow_page(request, token: str):
    """The public status of a reported case."""
    if refused := throttled(request):
        return _too_many(request, refused)
    reported = request.session.pop(JUST_REPORTED, None) if request.user.is_authenticated else None
    return _render(request, token, just_reported=reported)


@never_cache
@require_POST
def follow_rate(request, token: str):
    """满意度 1–5 with an optional comment, once, after closing."""
    if refused := throttled(request):
        return _too_many(request, refused)
    try:
        require_utf8_form(request, FORM_LABELS)
        services.rate(follow_token=token, score=request.POST.get("score"), comment=request.POST.get("comment", ""),
                      actor=request.user, idempotency_key=request.POST.get("idempotency_key") or None)
    except NotFound:
        raise Http404(LINK_INVALID) from None
    except CivicgridError as exc:
        # What was typed stays in the form (a missing score must not cost the comment; a NUL, refused, is left out
        # so that sending it again goes through).
        return _render(request, token, status=exc.status, error=error_text(exc), failed="rate",
                       comment=_typed(request, "comment")[:1000])
    success_once(request, _("感谢您的评价"))
    return redirect("ui:follow", token)


@never_cache
@require_POST
def follow_reopen(request, token: str):
    """重新办理 within the configured days after closing, with a reason."""
    if refused := throttled(request):
        return _too_many(request, refused)
    try:
        require_utf8_form(request, FORM_LABELS)
        services.reopen_by_token(follow_token=token, reason=request.POST.get("reason", ""),
                                 actor=request.user, idempotency_key=request.POST.get("idempotency_key") or None)
    except NotFound:
        raise Http404(LINK_INVALID) from None
    except CivicgridError as exc:
        return _render(request, token, status=exc.status, error=error_text(exc), failed="reopen",
                       reason=_typed(request, "reason")[:MAX_NOTE])
    success_once(request, _("已提交重新办理申请"))
    return redirect("ui:follow", token)


QR_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


@require_safe
def follow_qr(request, token: str, fmt: str):
    """The follow link as a QR code (SVG or PNG), to print or show on another screen."""
    if fmt not in QR_TYPES:
        raise Http404
    if refused := throttled(request):
        return _too_many(request, refused)
    try:
        reporter_for(token)
    except NotFound:
        raise Http404(LINK_INVALID) from None
    link = qr.follow_link(token, request)
    body = qr.svg(link, title=str(_("事件办理进度"))) if fmt == "svg" else qr.png(link)
    response = HttpResponse(body, content_type=QR_TYPES[fmt])
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


urlpatterns = [
    path("<str:token>/", follow_page, name="follow"),
    path("<str:token>/qr.<str:fmt>", follow_qr, name="follow_qr"),
    path("<str:token>/rate/", follow_rate, name="follow_rate"),
    path("<str:token>/reopen/", follow_reopen, name="follow_reopen"),
]

# Token links for reporters without accounts: no personal data, no sign-in by design (like api:follow_status).
non_data_endpoint("ui:follow", "ui:follow_rate", "ui:follow_reopen", "ui:follow_qr")
