"""How the API writes JSON: datetimes in the district's time zone with their offset (`2026-12-01T18:00:00+08:00`),
as Open311 writes them, as the API's own messages show them and as its date filters read them. One place for
every `/api/v1/` answer (the API's renderer), not a conversion per field. Input keeps accepting any offset."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from ninja import Schema
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder
from pydantic import ConfigDict


class DistrictTimeEncoder(NinjaJSONEncoder):
    """Django's encoder (milliseconds, ISO 8601) with aware datetimes moved to the current (district) zone first,
    so that none is written as UTC "Z"."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime) and timezone.is_aware(o):
            o = timezone.localtime(o)
        return super().default(o)


class DistrictTimeRenderer(JSONRenderer):
    encoder_class = DistrictTimeEncoder


class StrictIn(Schema):
    """An API input body: a field it does not declare (a misspelt `departmnet`) is a 422 naming it, never
    silently ignored."""

    model_config = ConfigDict(extra="forbid")
