"""GeoReport v2 wire formats: XML (the required one) and JSON, W3C datetimes in district time, the error list.

Answers are built as plain Python values (dicts, lists, strings, numbers, booleans, datetimes) and rendered by
`render`: the same value gives the spec's XML and JSON. In XML a list inside a dict becomes a wrapper element
whose children take the singular name the spec uses (`attributes` → `attribute`, `values` → `value` …); at the
top, the root and item names are given. Text the XML 1.0 grammar does not allow (control characters a caller
may have sent) is dropped, so an answer always parses.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from xml.sax.saxutils import escape

from django.http import HttpResponse
from django.utils import timezone

JSON = "json"
XML = "xml"
FORMATS = (JSON, XML)
CONTENT_TYPES = {JSON: "application/json; charset=utf-8", XML: "text/xml; charset=utf-8"}
# Wrapper element → item element, as GeoReport v2 and FixMyStreet's extension name them.
ITEM_NAMES = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "service_requests": "request",
    "errors": "error",
    "service_requests_updates": "request_update",
    "service_request_updates": "request_update",
}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class Open311Error(Exception):
    """An answer in the spec's error format: `[{code, description}]`, with the HTTP status of the same number."""

    def __init__(self, status: int, description: str, *, headers: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


def w3c(value: datetime | None) -> str:
    """A datetime as the W3C profile of ISO 8601 in district time, e.g. `2026-05-14T09:30:00+08:00`."""
    if value is None:
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return timezone.localtime(value).isoformat(timespec="seconds")


YEARS = (2000, 2099)  # what a datetime parameter may name
_UNENCODED_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


# The W3C profile of ISO 8601 (https://www.w3.org/TR/NOTE-datetime) as GeoReport v2 uses it: a date, or a date
# and a time with its zone (`Z` or ±hh:mm), seconds and their fraction optional. `fromisoformat` alone would
# take much more (week dates `2026-W19-4`, ordinal dates, a space or `_` for `T`, `+0800`, full-width digits).
_W3C = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2}))?", re.ASCII)


def parse_w3c(text: str, name: str) -> datetime:
    """A W3C datetime (`_W3C`: with its zone) or a date (the start of that day in district time) from a parameter.
    400 when malformed."""
    raw = str(text or "").strip()
    # A "+08:00" typed into a URL without encoding arrives as " 08:00": read it as the offset it was.
    raw = _UNENCODED_PLUS.sub(r"\1+\2", raw)
    try:
        if not _W3C.fullmatch(raw):
            raise ValueError(raw)
        if len(raw) == 10:
            parsed = datetime.combine(date.fromisoformat(raw), time.min)
        else:
            parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise Open311Error(400, f"{name} 须为 W3C 日期时间（含时区），如 2026-05-01T08:00:00+08:00，或日期 2026-05-01 / "
                                f"{name} must be a W3C datetime with its time zone, such as "
                                f"2026-05-01T08:00:00+08:00, or a date such as 2026-05-01") from None
    if not YEARS[0] <= parsed.year <= YEARS[1]:  # also keeps the date arithmetic of ranges in bounds
        raise Open311Error(400, f"{name} 须在 {YEARS[0]}–{YEARS[1]} 年之间 / {name} must lie in the years "
                                f"{YEARS[0]}–{YEARS[1]}")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return parsed


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return w3c(value)
    if isinstance(value, float):
        return repr(value)
    return _XML_INVALID.sub("", str(value))


def _xml_element(name: str, value, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append(f"<{name}>")
        for key, child in value.items():
            _xml_element(key, child, out)
        out.append(f"</{name}>")
    elif isinstance(value, list | tuple):
        item = ITEM_NAMES.get(name, "item")
        out.append(f"<{name}>")
        for child in value:
            _xml_element(item, child, out)
        out.append(f"</{name}>")
    else:
        text = _text(value)
        out.append(f"<{name}>{escape(text)}</{name}>" if text else f"<{name}/>")


def to_xml(root: str, value) -> str:
    """The document: `root` wrapping `value` (a list takes the root's item name, a dict its own keys)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    _xml_element(root, value, out)
    return "".join(out)


def _json_default(value):
    if isinstance(value, datetime):
        return w3c(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# Numbers a request may lack (coordinates not published): null in JSON, where a typed client reads a number or
# nothing, never a string; an empty element in XML as for any missing value.
JSON_NULLABLE = frozenset({"lat", "long"})


def _json_clean(value):
    # Other missing values are empty strings in JSON as in XML, which clients written against either expect.
    if value is None:
        return ""
    if isinstance(value, dict):
        return {k: None if v is None and k in JSON_NULLABLE else _json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_clean(v) for v in value]
    return value


def render(fmt: str, root: str, value, *, status: int = 200, headers: dict | None = None) -> HttpResponse:
    """An answer in `fmt`; `root` names the XML document element (JSON has no root: the value is the body)."""
    if fmt == JSON:
        body = json.dumps(_json_clean(value), ensure_ascii=False, default=_json_default, separators=(",", ":"))
    else:
        body = to_xml(root, value)
    response = HttpResponse(body.encode("utf-8"), status=status, content_type=CONTENT_TYPES[fmt])
    for name, header in (headers or {}).items():
        response[name] = header
    return response


def error_response(fmt: str, status: int, description: str, *, headers: dict | None = None) -> HttpResponse:
    """The spec's error answer: a list of `{code, description}` (XML `<errors><error>…`)."""
    fmt = fmt if fmt in FORMATS else XML
    return render(fmt, "errors", [{"code": status, "description": description}], status=status, headers=headers)
