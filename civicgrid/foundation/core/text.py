"""Text a request carries, checked once for what no column can hold.

A NUL character (U+0000) is refused, never stripped: nobody types one, so it is a broken client or a probe, and
the caller must hear that what they sent was not what gets stored. PostgreSQL cannot store it in text or jsonb
(psycopg refuses it: a 500), SQLite would keep it, so refusing it makes both answer the same 400 and keep the
same rows. Django's form fields refuse it likewise ("Null characters are not allowed"), as Open311 does
(`integrations.open311.inputs`); this is the same rule for the services that take request text outside forms.
Searches, which store nothing, keep dropping it from the words looked for; the audit trail, which must record
whatever came, replaces it (`audit.service`).

A lone surrogate (U+D800–U+DFFF not in a pair, which only a JSON escape such as `"\\ud800"` can carry) is no
character at all: no encoding writes it, so hashing, caching or storing it fails (a 500). It is refused the same
way (`refuse_nul` refuses both), and every JSON body of the API is checked for it before its operation runs
(`api_errors.strict_operation`, with `first_unencodable` naming the field). Form bodies and query strings cannot
carry one: Django reads them as UTF-8, and Open311 refuses bytes that are not (`open311.inputs`, through `first_not_utf8`).

Bytes that are not UTF-8 in a form (`%FF%FE`, sent by a broken client or a probe, never by a browser showing
our UTF-8 pages) Django reads as U+FFFD, so "��" would be stored and acted on as if it had been typed: a page's
form refuses them the same way (`require_utf8_form`).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

from .bilingual import quotable
from .errors import ValidationFailed

NUL = "\x00"


def has_nul(value) -> bool:
    """Whether `value` (a string, or a list or dict of them, as a JSON body holds) carries a NUL anywhere."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_unencodable(value) -> bool:
    """Whether `value` (a string, or a list or dict of them) holds a lone surrogate, which UTF-8 cannot encode."""
    return first_unencodable(value) is not None


def first_unencodable(value, path: str = ""):
    """The dotted path (`""` for the value itself) of the first string in `value` holding a lone surrogate (a dict's
    key counts as its own value), or None when every string encodes."""
    if isinstance(value, str):
        return None if _encodable(value) else path
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and not _encodable(k):
                return path
            if (found := first_unencodable(v, here)) is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            if (found := first_unencodable(v, f"{path}.{i}" if path else str(i))) is not None:
                return found
    return None


def unencodable_refusal(field: str, label: str = "") -> ValidationFailed:
    """The refusal of an input holding a lone surrogate (text no encoding can write), naming it as `nul_refusal`."""
    shown = quotable(label or field or "请求体", 40)
    name = quotable(field or "the body", 40)
    return ValidationFailed(f"「{shown}」含有无法编码的字符（不成对的 UTF-16 代理项，如 \\ud800），无法保存，请按 UTF-8 "
                            f"发送有效文本 / {name} holds a lone UTF-16 surrogate (such as \\ud800), which is not "
                            f"text and cannot be stored: send valid UTF-8 text", field=field)


def nul_refusal(field: str, label: str = "") -> ValidationFailed:
    """The refusal of an input holding a NUL, naming it as the form does (`label`) and by its field name."""
    shown = quotable(label or field, 40)
    name = quotable(field, 40)
    return ValidationFailed(f"「{shown}」含有不可见的控制字符（NUL），无法保存，请删除该字符后重新提交 / {name} contains a NUL "
                            f"character (\\x00), which cannot be stored: remove it and send again", field=field)


def not_utf8_refusal(field: str, label: str = "") -> ValidationFailed:
    """The refusal of a form input whose bytes are not UTF-8, naming it as `nul_refusal`."""
    shown = quotable(label or field, 40)
    name = quotable(field, 40)
    return ValidationFailed(f"「{shown}」含有无法识别的字符（不是有效的 UTF-8 编码），未保存，请重新填写后提交 / {name} is not "
                            f"valid UTF-8 text and was not saved: type it again and send it", field=field)


def _all_utf8(raw: bytes) -> bool:
    """Whether every name and value of form-encoded `raw` is UTF-8 once percent-decoded, decoding the whole at
    once: the separators `&` and `=` are ASCII, which no multi-byte sequence holds or continues, so the whole
    decodes exactly when each part does (a sequence cut by a separator is invalid either way)."""
    if raw.isascii() and b"%" not in raw:
        return True
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def first_not_utf8(raw: bytes) -> str | None:
    """The name of the first `name=value` pair of form-encoded bytes (a body or a query string) whose name or
    value, percent-decoded, is not UTF-8: what of the name is UTF-8 ("" when none of it is); None when every pair
    is UTF-8."""
    if _all_utf8(raw):  # the usual case, in one pass: only a body that fails it is taken pair by pair
        return None
    for pair in raw.split(b"&") if raw else ():
        name, _sep, value = pair.partition(b"=")
        name, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in (name, value))
        try:
            name.decode("utf-8"), value.decode("utf-8")
        except UnicodeDecodeError:
            return name.decode("utf-8", "replace").replace("\ufffd", "")
    return None


def not_utf8_field(request) -> str | None:
    """The name of the first field of a POST form whose name or value is not UTF-8 (None when every one is; what of
    the name is UTF-8, "" when none of it is). A form-encoded
    body is read as it came (Django has turned such bytes into U+FFFD already); in a multipart body, which Django
    decodes the same way, a value holding U+FFFD counts as not UTF-8 (nobody types that character)."""
    if request.content_type.lower() == "application/x-www-form-urlencoded":
        return first_not_utf8(request.body)
    for name, values in request.POST.lists():
        if "\ufffd" in name or any("\ufffd" in v for v in values):
            return name.replace("\ufffd", "")
    return None


def require_utf8_form(request, labels: dict | None = None) -> None:
    """`not_utf8_refusal` (400, before anything is written) for the first input of a POST form that is not UTF-8,
    labelled by `labels`."""
    field = not_utf8_field(request)
    if field == "":  # the name itself was not UTF-8 (nothing of it left to show)
        raise not_utf8_refusal("a field name", "参数名")
    if field is not None:
        raise not_utf8_refusal(field, (labels or {}).get(field, ""))


def refuse_nul(value, field: str, label: str = ""):
    """`value` as it is, unless it holds a NUL or a lone surrogate (`unencodable_refusal`): then 400 naming the input
    (nothing has been written yet)."""
    if has_nul(value):
        raise nul_refusal(field, label)
    if has_unencodable(value):
        raise unencodable_refusal(field, label)
    return value


def refuse_nul_in(values: dict, labels: dict | None = None, names: Iterable[str] | None = None) -> None:
    """`refuse_nul` for each of `values` (only `names`, when given), labelled by `labels`."""
    labels = labels or {}
    for name in names if names is not None else values:
        if name in values:
            refuse_nul(values[name], name, str(labels.get(name, "")))
