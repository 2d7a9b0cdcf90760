"""Reading GeoReport v2 parameters: form-encoded bodies (as the spec and FixMyStreet send them) and query strings.

Everything a caller sends is checked here before any service runs, so a wrong request is refused with a 400 that
names the parameter and nothing is written. The values are then handed to the services as plain Python.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.text import first_not_utf8

from . import conf
from .formats import Open311Error

_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,32})\](\[\])?$")
_CJK = re.compile(r"[\u3400-\u9fff]")
MAX_MEDIA = 10
MAX_IDS = 100  # device_id, account_id, update_id, address_id


class Params:
    """A request's parameters: the form body first, then the query string (api_key may be in either)."""

    def __init__(self, request):
        _require_size(request)
        _require_utf8(request.META.get("QUERY_STRING", "").encode("latin-1", "replace"), "查询参数", "query string")
        if request.method == "POST" and _is_form(request):
            _require_utf8(request.body, "请求体", "request body")
        elif request.method == "POST":
            _require_multipart_or_empty(request)
        self.body = request.POST if request.method == "POST" else None
        self.query = request.GET

    def _sources(self):
        return (self.body, self.query) if self.body is not None else (self.query,)

    def get(self, name: str, default: str = "") -> str:
        """The one value of `name`; sent more than once in the body or the query string is a 400 (which one was
        meant cannot be known: Django would keep the last silently)."""
        for source in self._sources():
            if name in source:
                values = source.getlist(name)
                if len(values) > 1:
                    shown = quotable(name, 40)
                    raise Open311Error(400, f"参数 {shown} 只能提供一次，却提供了 {len(values)} 次 / the parameter "
                                            f"{shown} may be given once, not {len(values)} times")
                return _clean(values[0], name)
        return default

    def getlist(self, name: str) -> list[str]:
        for source in self._sources():
            if name in source:
                return [_clean(v, name) for v in source.getlist(name)]
        return []

    def names(self) -> set[str]:
        return {name for source in self._sources() for name in source}


def _require_size(request) -> None:
    """A body over `conf.MAX_BODY` is a 413 in the spec's format, before it is read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > conf.MAX_BODY:
        most = conf.MAX_BODY // 1024
        raise Open311Error(413, f"请求体过大（{length // 1024} KB），上限 {most} KB：照片请以 media_url 链接提供 / the "
                                f"request body is too large ({length // 1024} KB; the limit is {most} KB): send photos "
                                f"as media_url links")


FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
UTF8_NAMES = ("utf-8", "utf8")


def _is_form(request) -> bool:
    """A form-encoded body (the spec's), which must be UTF-8: Django reads a form body in UTF-8 only and refuses
    one declaring another charset, so that is refused here first, with an answer saying why (415). `utf8`, a
    name of the same charset, is read as UTF-8."""
    if request.content_type.lower() != FORM:
        return False
    charset = request.content_params.get("charset", "utf-8").lower()
    if charset not in UTF8_NAMES:
        raise Open311Error(415, f"不支持的字符集 {charset[:40]}：表单请求体须为 UTF-8 编码 / the charset "
                                f"{charset[:40]} is not supported: a form-encoded body must be UTF-8")
    if charset != "utf-8":
        request.encoding = "utf-8"
    return True


def _require_multipart_or_empty(request) -> None:
    """A POST body in another media type (JSON, plain text) would be read as no parameters at all, and answered
    as if the api_key were missing: say what the body must be instead (415), before anything else is asked."""
    if request.content_type.lower() == MULTIPART:
        _require_utf8_multipart(request)
        return
    if not request.body:
        return
    shown = request.content_type[:60] or "—"
    raise Open311Error(415, f"不支持的请求体类型 {shown}：请求体须为 {FORM}（或 {MULTIPART}）/ the request body must be "
                            f"{FORM} (or {MULTIPART}), not {shown}")


def _require_utf8(raw: bytes, zh: str, en: str) -> None:
    """Refuse form-encoded text whose percent-escapes (or raw bytes) are not UTF-8: Django would read them as
    U+FFFD, so `%FF%FE` would be stored as two replacement characters instead of what the caller meant."""
    if first_not_utf8(raw) is not None:
        raise Open311Error(400, f"{zh}不是有效的 UTF-8 编码，请按 UTF-8 编码各参数 / the {en} is not valid UTF-8: "
                                f"percent-encode the parameters' UTF-8 bytes")


def _require_utf8_multipart(request) -> None:
    """`_require_utf8` for a multipart body: Django reads each field in UTF-8 as well, turning bytes that are not
    into U+FFFD, so each field's raw bytes are read here first. The whole body is read in memory (Open311 takes no
    files, and Django bounds a body by DATA_UPLOAD_MAX_MEMORY_SIZE); a part with a file name (a file, which Django
    would refuse to keep: photos come as media_url) is left alone."""
    import base64
    import binascii
    import io

    from django.http.multipartparser import FIELD, ChunkIter, LazyStream, Parser

    boundary = request.content_params.get("boundary", "")
    if not boundary or not request.body:
        return  # Django's own parser answers a body without a boundary
    stream = LazyStream(ChunkIter(io.BytesIO(request.body), 64 * 1024))
    for item_type, meta, field in Parser(stream, boundary.encode("ascii", "replace")):
        data = field.read()
        if item_type != FIELD:
            continue
        name = meta.get("content-disposition", ("", {}))[1].get("name", "")
        encoding = meta.get("content-transfer-encoding")
        if encoding and encoding[0].strip().lower() == "base64":
            try:
                data = base64.b64decode(data, validate=True)
            except binascii.Error:
                pass  # Django keeps such a field as it came
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            shown = quotable(name, 40)
            raise Open311Error(400, f"参数 {shown} 不是有效的 UTF-8 编码，请按 UTF-8 编码各参数 / the parameter {shown} "
                                    f"is not valid UTF-8: send the parameters' text in UTF-8") from None


def _clean(value, name: str) -> str:
    text = "" if value is None else str(value)
    if "\x00" in text:
        raise Open311Error(400, f"参数 {name[:40]} 含有无效字符 / {name[:40]} contains a NUL character")
    return text.strip()


def text(params: Params, name: str, max_length: int) -> str:
    value = params.get(name)
    if len(value) > max_length:
        raise Open311Error(400, f"{name} 不能超过 {max_length} 个字符 / {name} is longer than {max_length} "
                                f"characters")
    return value


def api_key(params: Params) -> str:
    return params.get("api_key")


@dataclass
class Location:
    """Where a report is: coordinates (WGS-84 unless `crs` says otherwise) and/or an address."""

    lng: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str = ""
    address_id: str = ""
    place: dict | None = None  # the gazetteer's place when the point came from address_string


# A decimal number in ASCII digits (an exponent allowed): Python's float() also reads full-width digits, other
# scripts' digits and `_` between digits (`１１３.２`, `11_3.2`), which no GeoReport client sends on purpose.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _coordinate(raw: str, name: str, bound: float) -> float:
    if not _NUMBER.fullmatch(raw):
        shown = quotable(raw, 30)
        raise Open311Error(400, f"{name} 须为半角数字表示的十进制数（如 40.0100），而不是「{shown}」 / {name} must be a "
                                f"decimal number in ASCII digits (such as 40.0100), not \"{shown}\"")
    value = float(raw)
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise Open311Error(400, f"{name} 超出范围 / {name} is out of range")
    return value


def location(params: Params) -> Location:
    """lat & long, else `address_id` (a standard-address building code), else `address_string`."""
    lat_raw, long_raw = params.get("lat"), params.get("long")
    found = Location(address=text(params, "address_string", 200), address_id=text(params, "address_id", MAX_IDS))
    crs = (params.get("crs") or "wgs84").lower()  # extension: phones with Chinese map SDKs send gcj02/bd09
    if crs not in ("wgs84", "gcj02", "bd09"):
        raise Open311Error(400, "crs 须为 wgs84、gcj02 或 bd09 / crs must be wgs84, gcj02 or bd09")
    found.crs = crs
    if lat_raw or long_raw:
        if not (lat_raw and long_raw):
            raise Open311Error(400, "lat 与 long 须同时提供 / lat and long must be given together")
        found.lat = _coordinate(lat_raw, "lat", 90)
        found.lng = _coordinate(long_raw, "long", 180)
    elif not (found.address or found.address_id):
        raise Open311Error(400, "须提供 lat/long、address_string 或 address_id / a location (lat & long, "
                                "address_string or address_id) is required")
    elif found.address and not found.address_id:
        _place_from_text(found)
    return found


def _place_from_text(found: Location) -> None:
    """Only an address_string: a standard address (exact) is left to the service; otherwise the gazetteer's
    one confident place (a landmark, road, community, building … named in the text) gives the point. Nothing
    confident: the point stays empty and the service answers with its usual 400."""
    from civicgrid.foundation.people.models import Building

    if Building.objects.filter(address=found.address).exists():
        return
    try:
        from civicgrid.integrations.router.gazetteer import ambiguous_place, confident_place
    except ImportError:
        return
    place = confident_place(found.address)
    if place is not None:
        found.lng, found.lat, found.crs = place["lng"], place["lat"], "wgs84"
        found.place = place
    elif ambiguous := ambiguous_place(found.address):
        raise Open311Error(400, ambiguous_text(ambiguous[0]))


MAX_AREAS = 5  # areas named in the answer to an ambiguous address_string


def ambiguous_text(found: dict) -> str:
    """The 400 for an address_string naming an estate the district has in several places."""
    areas = found["areas"]
    shown = "、".join(areas[:MAX_AREAS]) + (f" 等 {len(areas)} 处" if len(areas) > MAX_AREAS else "")
    shown_en = ", ".join(areas[:MAX_AREAS]) + (f" and {len(areas) - MAX_AREAS} more" if len(areas) > MAX_AREAS else "")
    name = found["name"]
    return (f"「{name}」在多处都有（{shown}），无法确定是哪一处：请提供 lat/long，或写明街道、社区等更精确的地址 / "
            f"\"{name}\" exists in several places ({shown_en}): send lat and long, or a more precise address "
            f"naming the street or community")


def attributes(params: Params) -> dict[str, list[str]]:
    """`attribute[code]=v` and, for multivaluelists, `attribute[code][]=v` repeated."""
    found: dict[str, list[str]] = {}
    for name in sorted(params.names()):
        match = _ATTRIBUTE.match(name)
        if match:
            found.setdefault(match.group(1), []).extend(params.getlist(name))
    return found


def media_urls(params: Params) -> list[str]:
    """Links to photos the caller hosts (FixMyStreet repeats `media_url` for several photos); never fetched."""
    urls = [u for u in params.getlist("media_url") if u]
    if len(urls) > MAX_MEDIA:
        raise Open311Error(400, f"media_url 最多 {MAX_MEDIA} 个 / at most {MAX_MEDIA} media_url values")
    for url in urls:
        if not _is_http_url(url):
            shown = quotable(url, 60)
            raise Open311Error(400, f"media_url「{shown}」不是有效的 http(s) 链接，请发送完整的照片网址（如 "
                                    f"https://example.com/photo.jpg）/ media_url \"{shown}\" is not a valid http(s) "
                                    f"URL: send the photo's full address, such as https://example.com/photo.jpg")
    return urls


def _is_http_url(url: str) -> bool:
    """An http(s) URL that parses whole: a host, a port that is a port, brackets that close and nothing after them
    but the port (`urlsplit` raises ValueError for `http://[::1`, and `.port` for a port beyond 65535)."""
    if len(url) > conf.MAX_MEDIA_URL or re.search(r"\s", url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return False
    if "[" in parts.netloc and not re.search(r"\](:\d*)?$", parts.netloc):
        return False  # `[::1]x`: urlsplit drops what follows the bracket
    return parts.scheme in ("http", "https") and bool(parts.hostname)


MAX_NAME = 64  # the case's reporter name (Case.reporter_name), which the two parts make together


def reporter_name(params: Params) -> str:
    """first_name and last_name as one name: family name first for Chinese names (张 + 三 → 张三). The case keeps
    the name whole in `MAX_NAME` characters, so that is what the two may make together (a space between Latin
    parts included); the refusal names the GeoReport parameters, for reports and updates alike."""
    first, last = text(params, "first_name", MAX_NAME), text(params, "last_name", MAX_NAME)
    name = f"{last}{first}" if _CJK.search(first + last) else " ".join(p for p in (first, last) if p)
    if len(name) > MAX_NAME:
        raise Open311Error(400, f"first_name 与 last_name 合计不能超过 {MAX_NAME} 个字符 / first_name and last_name "
                                f"together are longer than {MAX_NAME} characters")
    return name


def device_id(params: Params) -> str:
    # FixMyStreet's use_service_as_deviceid sends `deviceid`.
    value = params.get("device_id") or params.get("deviceid")
    if len(value) > MAX_IDS:
        raise Open311Error(400, f"device_id 不能超过 {MAX_IDS} 个字符 / device_id is too long")
    return value


def title_from(description: str, fallback: str) -> str:
    """A case title from the first line of the description (FixMyStreet puts the report's title there)."""
    for line in description.splitlines():
        line = line.strip()
        for prefix in ("title:", "标题：", "标题:"):
            if line.lower().startswith(prefix):
                line = line[len(prefix):].strip()
        if line:
            return line[:60]
    return fallback[:60]


@dataclass
class UpdateIn:
    """One posted update (servicerequestupdates), checked."""

    service_request_id: str
    external_id: str = ""
    status: str = ""
    description: str = ""
    updated_datetime: object = None
    media_url: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""


# FixMyStreet's statuses (plain and extended); OPEN and REOPEN ask to reopen a closed case, the others are notes.
UPDATE_STATUSES = {"OPEN", "CLOSED", "FIXED", "IN_PROGRESS", "ACTION_SCHEDULED", "INVESTIGATING", "DUPLICATE",
                   "NOT_COUNCILS_RESPONSIBILITY", "NO_FURTHER_ACTION", "INTERNAL_REFERRAL", "REOPEN"}
REOPEN_STATUSES = {"OPEN", "REOPEN"}


def update(params: Params) -> UpdateIn:
    from .formats import parse_w3c

    number = params.get("service_request_id")
    if not number:
        raise Open311Error(400, "缺少 service_request_id / service_request_id was not provided")
    status = params.get("status").upper().replace(" ", "_")
    if status and status not in UPDATE_STATUSES:
        raise Open311Error(400, f"未知的 status：{status[:30]} / unknown status")
    when = params.get("updated_datetime")
    urls = media_urls(params)
    if len(urls) > 1:  # an update keeps one link (the case step's); the others would be dropped unsaid
        raise Open311Error(400, f"一条更新只能带一个 media_url，却提供了 {len(urls)} 个：请分成多条更新发送 / an update "
                                f"carries one media_url, not {len(urls)}: send the others as further updates")
    return UpdateIn(
        service_request_id=number[:40],
        external_id=text(params, "update_id", 64) or text(params, "update_id_ext", 64),
        status=status,
        description=text(params, "description", conf.MAX_DESCRIPTION),
        updated_datetime=parse_w3c(when, "updated_datetime") if when else None,
        media_url=urls[0] if urls else "",
        name=reporter_name(params),
        email=text(params, "email", 254),
        phone=text(params, "phone", 40),
    )
