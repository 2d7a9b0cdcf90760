"""The error answer every API endpoint gives (config/api.py shapes it from `errors.CivicgridError` and Django
Ninja's own refusals), as a schema routers declare for their error statuses in the OpenAPI document."""

from __future__ import annotations

from ninja import Schema


class FieldErrorOut(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    """An error: a message a person can act on ("中文 / English"), a code, and the input it is about."""

    detail: str
    code: str  # invalid, missing, unauthorized, forbidden, not_found, conflict, too_large, …
    field: str | None = None  # the input at fault, when one is
    errors: list[FieldErrorOut] | None = None  # per-field messages of a 422


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """`{status: ErrorOut}` for a `response=` declaration: `response={200: XOut, **errors(401, 404)}`."""
    return dict.fromkeys(statuses, ErrorOut)
