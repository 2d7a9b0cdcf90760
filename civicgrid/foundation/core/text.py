"""Text a request carries, checked once for what no column can hold.

A NUL character (U+0000) is refused, never stripped: nobody types one, so it is a broken client or a probe, and
the caller must hear that what they sent was not what gets stored. PostgreSQL cannot store it in text or jsonb
(psycopg refuses it: a 500), SQLite would keep it, so refusing it makes both answer the same 400 and keep the
same rows. Django's form fields refuse it likewise ("Null characters are not allowed"), as Open311 does
(`integrations.open311.inputs`); this is the same rule for the services that take request text outside forms.
Searches, which store nothing, keep dropping it from the words looked for; the audit trail, which must record
whatever came, replaces it (`audit.service`).
"""

from __future__ import annotations

from collections.abc import Iterable

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


def nul_refusal(field: str, label: str = "") -> ValidationFailed:
    """The refusal of an input holding a NUL, naming it as the form does (`label`) and by its field name."""
    shown = quotable(label or field, 40)
    name = quotable(field, 40)
    return ValidationFailed(f"「{shown}」含有不可见的控制字符（NUL），无法保存，请删除该字符后重新提交 / {name} contains a NUL "
                            f"character (\\x00), which cannot be stored: remove it and send again", field=field)


def refuse_nul(value, field: str, label: str = ""):
    """`value` as it is, unless it holds a NUL: then 400 naming the input (nothing has been written yet)."""
    if has_nul(value):
        raise nul_refusal(field, label)
    return value


def refuse_nul_in(values: dict, labels: dict | None = None, names: Iterable[str] | None = None) -> None:
    """`refuse_nul` for each of `values` (only `names`, when given), labelled by `labels`."""
    labels = labels or {}
    for name in names if names is not None else values:
        if name in values:
            refuse_nul(values[name], name, str(labels.get(name, "")))
