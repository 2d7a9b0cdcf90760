"""GeoReport v2 endpoints as plain Django views: each parses, calls a catalogue/selector/service, renders.

Every view goes through `endpoint(...)`, which fixes what all of them share: the format from the URL suffix
(`.json` or `.xml`), the allowed methods, the per-address rate limit, the `jurisdiction_id` check, the optional
`api_key` (wrong → 403 even where none is needed, so a misconfigured client notices) and the spec's error answer
for every refusal. No CSRF token: callers are applications authenticating with their key, not browsers.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousMultipartForm,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import DataError
from django.http import RawPostDataException
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.core.middleware import client_ip
from civicgrid.foundation.core.ratelimit import take

from . import catalogue, conf, inputs, selectors, services
from .formats import FORMATS, XML, Open311Error, error_response, render

log = logging.getLogger(__name__)
STATUS_OF = {400: 400, 403: 403, 404: 404, 409: 409, 422: 400, 429: 429}


def endpoint(*methods: str):
    """Wrap a view `fn(request, fmt, params, client, jurisdiction=…, **url_kwargs)`; `client` is the caller's
    client when it sent an api_key (views that need one ask `services.authenticate` for the 403)."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def decorate(fn):
        @csrf_exempt
        @functools.wraps(fn)
        def view(request, fmt: str, **kwargs):
            fmt = fmt.lower()
            if fmt not in FORMATS:
                return error_response(XML, 400, "格式须为 json 或 xml / the format must be json or xml")
            if request.method not in allowed:
                return error_response(fmt, 405, f"不支持 {request.method} / method not allowed",
                                      headers={"Allow": ", ".join(sorted(allowed))})
            try:
                wait = take(f"open311:addr:{client_ip(request)}", conf.address_limit())
                if wait:
                    raise services.too_many(wait)
                params = inputs.Params(request)
                jurisdiction = _jurisdiction(params)
                raw_key = inputs.api_key(params)
                client = services.authenticate(raw_key, jurisdiction=jurisdiction) if raw_key else None
                return fn(request, fmt, params, client, jurisdiction=jurisdiction, **kwargs)
            except Open311Error as exc:
                return error_response(fmt, exc.status, exc.description, headers=exc.headers)
            except CivicgridError as exc:
                return error_response(fmt, STATUS_OF.get(exc.status, 400), exc.message)
            except (MultiPartParserError, RawPostDataException, UnicodeDecodeError):
                return error_response(fmt, 400, "请求体无法解析 / the request body could not be read")
            except (BadRequest, SuspiciousMultipartForm, TooManyFieldsSent, TooManyFilesSent, RequestDataTooBig) as exc:
                # Django's own refusals of what a request carries, met while reading the parameters: answered in
                # the spec's format like every other refusal (Django would answer with its page and log a trace).
                log.warning("open311: request refused while reading it: %s: %s", type(exc).__name__, exc)
                return error_response(fmt, *_read_refusal(exc))
            except DataError as exc:
                # The database refused a value a check should have caught: the request was wrong, not the server.
                log.warning("open311: database refused a request value: %s", exc)
                return error_response(fmt, 400, "请求参数超出允许范围 / a value in the request is out of range")

        return view

    return decorate


def _read_refusal(exc: Exception) -> tuple[int, str]:
    """The status and words for a request Django refused to read (`endpoint`)."""
    if isinstance(exc, TooManyFieldsSent):
        most = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return 400, f"参数过多：一次请求最多 {most} 个参数 / too many parameters: a request may carry at most {most}"
    if isinstance(exc, TooManyFilesSent):
        return 400, "上传的文件过多：照片请以 media_url 链接提供 / too many files: send photos as media_url links"
    if isinstance(exc, RequestDataTooBig):
        return 413, "请求体过大 / the request body is too large"
    return 400, "请求无法解析 / the request could not be read"


def _jurisdiction(params: inputs.Params) -> str:
    """The jurisdiction asked for (the default one when none is named); 404 for one not served here."""
    given = params.get("jurisdiction_id")
    if given and given not in conf.jurisdictions():
        shown = quotable(given, 64)
        raise Open311Error(404, f"未找到 jurisdiction_id「{shown}」 / jurisdiction_id not found: \"{shown}\"")
    return given or conf.default_jurisdiction()


@endpoint("GET")
def discovery(request, fmt, params, client, **_):
    """Service discovery: where the GeoReport v2 endpoint is and which formats it speaks."""
    changed = catalogue.changeset()
    body = {
        "changeset": changed,
        "contact": conf.contact(),
        "key_service": conf.key_service(),
        "endpoints": [{
            "specification": conf.SPECIFICATION,
            "url": request.build_absolute_uri(request.path.rsplit("/", 1)[0]),
            "changeset": changed,
            "type": conf.endpoint_type(),
            "formats": ["text/xml", "application/json"],
        }],
    }
    return render(fmt, "discovery", body)


@endpoint("GET")
def service_list(request, fmt, params, client, **_):
    """GET services: the categories open to public reports and published to the feed (`catalogue`); in Chinese,
    or with `locale=en` (`en-US`, `en_GB`) by their English names where they have one. Only the parameter asks:
    the site's language middleware ignores Accept-Language (`core.middleware.ChineseFirstLocaleMiddleware`)."""
    locale = (params.get("locale") or "").strip().lower().replace("_", "-")
    return render(fmt, "services", catalogue.service_list(english=locale.split("-")[0] == "en"))


@endpoint("GET")
def service_definition(request, fmt, params, client, *, code: str, **_):
    """GET services/{service_code}: the service's attributes (also answered at the singular `service/`)."""
    return render(fmt, "service_definition", catalogue.definition(catalogue.find_service(code)))


@endpoint("GET", "POST")
def requests_(request, fmt, params, client, *, jurisdiction: str, **_):
    """GET requests: search; POST requests: report (api_key required)."""
    if request.method != "POST":
        return render(fmt, "service_requests", selectors.request_list(params))
    if client is None:
        client = services.authenticate("", jurisdiction=jurisdiction)
    header, body = request.headers.get("Idempotency-Key", ""), params.get("idempotency_key")
    if header and body and header != body:  # which one the caller meant cannot be known: neither is used
        raise Open311Error(400, "Idempotency-Key 请求头与 idempotency_key 参数不一致，请只提供其一 / the Idempotency-Key "
                                "header and the idempotency_key parameter differ: send one of them")
    idempotency = header or body
    if len(idempotency) > 100:
        raise Open311Error(400, "Idempotency-Key 过长 / the idempotency key is too long")
    if client.queued:
        queued, created = services.enqueue_request(client=client, params=params, jurisdiction=jurisdiction,
                                                   idempotency_key=idempotency)
        return render(fmt, "service_requests", [selectors.queued_answer(queued)], status=201 if created else 200)
    case, link, created = services.submit_request(client=client, params=params, jurisdiction=jurisdiction,
                                                  idempotency_key=idempotency)
    body = [{
        "service_request_id": case.number,
        "service_notice": selectors.received_notice(case.category),
        "account_id": services.account_id(link),
        "token": link.token,
    }]
    return render(fmt, "service_requests", body, status=201 if created else 200)


@endpoint("GET")
def request_detail(request, fmt, params, client, *, number: str, **_):
    """GET requests/{service_request_id} (also at the singular `request/`)."""
    return render(fmt, "service_requests", [selectors.request_detail(number)])


@endpoint("GET")
def token(request, fmt, params, client, *, token: str, **_):
    """GET tokens/{token}: the service request id behind a token."""
    return render(fmt, "service_requests", [selectors.token_detail(token)])


@endpoint("GET", "POST")
def updates(request, fmt, params, client, *, jurisdiction: str, **_):
    """FixMyStreet's extension. GET: updates between start_date and end_date; POST: a comment or a reopening
    (api_key required)."""
    if request.method != "POST":
        return render(fmt, "service_requests_updates", selectors.update_list(params))
    if client is None:
        client = services.authenticate("", jurisdiction=jurisdiction)
    step = services.post_update(client=client, update=inputs.update(params))
    return render(fmt, "service_request_updates", [{"update_id": str(step.pk)}])


@csrf_exempt
def not_found(request, path: str = ""):
    """Anything else under /open311/v2/: the spec's 404, in JSON when the path asks for it, else in XML."""
    fmt = "json" if path.lower().rstrip("/").endswith(".json") else XML  # `services.json/` too
    return error_response(fmt, 404, "未找到该接口 / no such GeoReport v2 resource")
