"""How the API writes JSON: datetimes in the district's time zone with their offset (`2026-12-01T18:00:00+08:00`),
as Open311 writes them, as the API's own messages show them and as its date filters read them. One place for
every `/api/v1/` answer (the API's renderer), not a conversion per field. Input keeps accepting any offset."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.utils import timezone
from ninja import Schema
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder
from pydantic import ConfigDict, StrictInt, WithJsonSchema


class DistrictTimeEncoder(NinjaJSONEncoder):
    """Django's encoder (milliseconds, ISO 8601) with aware datetimes moved to the current (district) zone first,
    so that none is written as UTC "Z"."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime) and timezone.is_aware(o):
            o = timezone.localtime(o)
        return super().default(o)


class DistrictTimeRenderer(JSONRenderer):
    encoder_class = DistrictTimeEncoder


def documented_enum(values, description: str, *, blank: bool = False):
    """A string documented as one of `values` (a model's choices) in the OpenAPI document, for client generators;
    the services check it as before (their refusals name the field). `blank`: "" (the default: any) is one too."""
    values = ["", *values] if blank else list(values)
    return Annotated[str, WithJsonSchema({"type": "string", "enum": values, "description": description})]


# An id in a JSON body is a JSON integer: true, 1.0 or "1" are refused (a 422 naming the field), not read as an id.
Id = StrictInt


class StrictIn(Schema):
    """An API input body: a field it does not declare (a misspelt `departmnet`) is a 422 naming it, never
    silently ignored."""

    model_config = ConfigDict(extra="forbid")
