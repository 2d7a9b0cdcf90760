"""The error answer every API endpoint gives (config/api.py shapes it from `errors.CivicgridError` and Django
Ninja's own refusals), as a schema routers declare for their error statuses in the OpenAPI document."""

from __future__ import annotations

import re

from ninja import Schema


class FieldErrorOut(Schema):
    field: str  # the input at fault ("" when the problem is the whole input, e.g. a line of a text)
    message: str  # "中文 / English"
    type: str | None = None  # the validator's error type (pydantic's), for programs
    row: int | None = None  # the row of an uploaded file or of a list of entries, when the problem is in one


class ErrorOut(Schema):
    """An error: a message a person can act on ("中文 / English"), a code, and the input it is about."""

    detail: str
    code: str  # invalid, missing, unauthorized, forbidden, not_found, conflict, too_large, …
    field: str | None = None  # the input at fault, when one is
    errors: list[FieldErrorOut] | None = None  # per-field messages of a 422 (or per row or line of a 400)


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """`{status: ErrorOut}` for a `response=` declaration: `response={200: XOut, **errors(401, 404)}`.

    Every operation declares each error it can really answer (tests/test_api_error_answers.py walks the
    document and checks real answers against it): 422 everywhere (`strict_operation` refuses an undeclared
    parameter on every operation), 401 where a token is required, 400 where a value is checked beyond its type
    (or a JSON body can fail to parse), 403 where a capability is checked, 404 where an id in the path or the
    query names an object, 409 where the object's state or another row can refuse the change, 429 where requests
    are rate limited."""
    return dict.fromkeys(statuses, ErrorOut)


# What each of pydantic's error types says in Chinese; `{name}` takes the error's context. The English half is
# pydantic's own message. A type not listed is "取值无效" (the invalid value), still with pydantic's words.
_CHINESE = {
    "missing": "必填",
    "string_type": "须为文本",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确",
    "string_unicode": "须为有效的文本",
    "int_type": "须为整数",
    "int_parsing": "须为整数",
    "int_from_float": "须为整数",
    "int_parsing_size": "数值超出范围",
    "float_type": "须为数字",
    "float_parsing": "须为数字",
    "decimal_type": "须为数字",
    "decimal_parsing": "须为数字",
    "decimal_max_digits": "数字位数过多",
    "decimal_max_places": "小数位数过多",
    "finite_number": "须为有限的数字",
    "bool_type": "须为 true 或 false",
    "bool_parsing": "须为 true 或 false",
    "list_type": "须为列表",
    "tuple_type": "须为列表",
    "set_type": "须为列表",
    "dict_type": "须为 JSON 对象",
    "model_type": "须为 JSON 对象",
    "model_attributes_type": "须为 JSON 对象",
    "date_type": "须为日期（如 2026-05-01）",
    "date_parsing": "须为日期（如 2026-05-01）",
    "date_from_datetime_parsing": "须为日期（如 2026-05-01）",
    "date_from_datetime_inexact": "须为日期（如 2026-05-01），不含时刻",
    "datetime_type": "须为日期时间（如 2026-05-01T08:00:00+08:00）",
    "datetime_parsing": "须为日期时间（如 2026-05-01T08:00:00+08:00）",
    "datetime_from_date_parsing": "须为日期时间（如 2026-05-01T08:00:00+08:00）",
    "datetime_object_invalid": "须为日期时间（如 2026-05-01T08:00:00+08:00）",
    "time_type": "须为时间（如 08:30）",
    "time_parsing": "须为时间（如 08:30）",
    "timezone_aware": "须带时区",
    "timezone_naive": "不能带时区",
    "greater_than": "须大于 {gt}",
    "greater_than_equal": "不能小于 {ge}",
    "less_than": "须小于 {lt}",
    "less_than_equal": "不能大于 {le}",
    "multiple_of": "须为 {multiple_of} 的倍数",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "literal_error": "须为以下之一：{expected}",
    "enum": "须为以下之一：{expected}",
    "json_invalid": "不是有效的 JSON",
    "json_type": "不是有效的 JSON",
    "extra_forbidden": "不接受此字段",
    "uuid_type": "须为 UUID",
    "uuid_parsing": "须为 UUID",
    "url_type": "须为网址",
    "url_parsing": "须为有效的网址",
    "url_scheme": "网址的协议不被接受",
}


def field_error(err: dict) -> dict:
    """One of pydantic's errors as the API answers it: the field's dotted path, a message "中文 / English" (the
    Chinese for its type, pydantic's English), and pydantic's error type for programs. A validator of ours that
    raised "中文 / English" keeps its own words."""
    loc = ".".join(
        str(p) for p in err.get("loc", []) if p not in ("body", "query", "path", "payload", "form")
    )
    kind, english, ctx = err.get("type", ""), err.get("msg", ""), err.get("ctx") or {}
    raised = str(ctx.get("error", "")) if kind in ("value_error", "assertion_error") else ""
    if " / " in raised:
        message = raised
    else:
        try:
            chinese = _CHINESE[kind].format(**ctx)
        except (KeyError, IndexError, ValueError):
            chinese = "取值无效"
        message = f"{chinese} / {english}"
    return {"field": loc, "message": message, "type": kind or None}


def invalid_request(errors: list[dict]) -> dict:
    """A 422's body: the first field's problem in both languages, then each field's (`field_error`)."""
    fields = [field_error(e) for e in errors]
    detail = "请求参数有误 / invalid request"
    if fields:
        first = fields[0]
        zh, _, en = first["message"].partition(" / ")
        more_zh = f"（另有 {len(fields) - 1} 处）" if len(fields) > 1 else ""
        more_en = f" ({len(fields) - 1} more)" if len(fields) > 1 else ""
        name = first["field"] or "请求体"
        detail = (
            f"请求参数有误：{name} {zh}{more_zh} / invalid request: {first['field'] or 'body'}: {en or zh}"
            f"{more_en}"
        )
    return {"detail": detail, "code": "invalid", "errors": fields}


def _declared(schema_or_names) -> set[str]:
    """The names a filter schema declares (their aliases), or the names themselves."""
    fields = getattr(schema_or_names, "model_fields", None)
    if fields is None:
        return set(schema_or_names)
    return {field.alias or name for name, field in fields.items()}


def refuse_unknown(source: str, given, known) -> None:
    """A 422 naming each of `given` (names sent in the query string, a form or a JSON body) that `known` does not
    declare, as pydantic's `extra_forbidden` for that `source` ("query", "body", "form"): the shape of every 422."""
    from ninja.errors import ValidationError

    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": (source, str(name)[:40]),
                    "msg": "Extra inputs are not permitted",
                    "input": "",
                }
                for name in unknown
            ]
        )


def refuse_unknown_query(request, schema) -> None:
    """A 422 naming each query parameter `schema` (a list's filter schema, or the names it reads) does not declare:
    `sort`, `ordering` or a misspelt filter would otherwise be ignored and the whole list returned. (Django Ninja
    reads only the declared names from the query string, so the schema's own `extra="forbid"` does not see the
    others.) Every operation of the API runs it with its declared names (`strict_operation`)."""
    refuse_unknown("query", request.GET, _declared(schema))


def refuse_unknown_body(request, known) -> None:
    """For a view that reads its JSON body itself: a 422 naming each key of the body's object that is not one of
    `known`. A body that is not a JSON object is left to the view."""
    import json

    if not request.body.strip() or "json" not in (request.content_type or ""):
        return
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return
    if isinstance(body, dict):
        refuse_unknown("body", body, known)


# A JSON escape of a UTF-16 surrogate (`\ud800`–`\udfff`): only a body holding one can hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def refuse_unencodable_body(request) -> None:
    """A 400 naming the field of a JSON body that holds a lone surrogate (`core.text.unencodable_refusal`): text
    no encoding can write, which would fail wherever it is hashed, cached or stored (a 500 from the token's rate
    limiter or a report's digest). Only a body with a surrogate's escape is read twice; a pair is fine."""
    import json

    from django.core.exceptions import RequestDataTooBig

    from .text import first_unencodable, unencodable_refusal

    if "json" not in (request.content_type or ""):
        return
    try:
        raw = request.body
    except RequestDataTooBig:
        return  # the operation's own reading of the body meets it again, and the API answers its 413
    if not _SURROGATE_ESCAPE.search(raw):
        return
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return  # Django Ninja answers that the body is not JSON
    field = first_unencodable(body)
    if field is not None:
        raise unencodable_refusal(field)


def reads_own_body(*names: str):
    """Marks a view that reads its JSON body itself (not through a schema) with the keys it reads: it calls
    `refuse_unknown_body(request, names)` where the body matters (after its 404s), so `strict_operation` leaves
    its body alone."""

    def mark(view):
        view.civicgrid_body_fields = frozenset(names)
        return view

    return mark


_BODY_SOURCES = {"body", "form", "file"}


def _operation_names(operation) -> tuple[set[str], set[str] | None]:
    """The query names an operation declares, and the form/file field names (None: it declares no form)."""
    query: set[str] = set()
    form: set[str] | None = None
    for model in operation.models:
        source = model.__ninja_param_source__
        names = set(getattr(model, "__ninja_flatten_map__", None) or model.model_fields)
        if source == "query":
            query |= names
        elif source in ("form", "file"):
            form = (form or set()) | names
    return query, form


def _has_body(operation) -> bool:
    return any(m.__ninja_param_source__ in _BODY_SOURCES for m in operation.models)


def strict_operation(run):
    """Every API operation (config/api.py adds it to the whole API): a query parameter it does not declare is a
    422 naming it, on every list and every write alike; so is a form field it does not declare, and a key of a
    JSON body sent to an operation that takes none. Declared bodies refuse their unknown keys themselves
    (`StrictIn`). A JSON body holding text no encoding can write is a 400 naming the field
    (`refuse_unencodable_body`). Authentication runs first: a request without a token is a 401, whatever it
    sends."""
    import functools

    from ninja.errors import ValidationError

    from .errors import CivicgridError

    operation = run.__self__
    query, form = _operation_names(operation)
    has_body = _has_body(operation) or hasattr(operation.view_func, "civicgrid_body_fields")

    @functools.wraps(run)
    def checked(request, **kw):
        try:
            refuse_unencodable_body(request)
            refuse_unknown("query", request.GET, query)
            if form is not None:
                refuse_unknown("form", [*request.POST, *request.FILES], form)
            elif not has_body:
                refuse_unknown_body(request, ())
        except (ValidationError, CivicgridError) as exc:
            denied = operation._run_checks(request)
            return denied or operation.api.on_exception(request, exc)
        return run(request, **kw)

    return checked
