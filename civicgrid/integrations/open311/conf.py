"""Open311 settings, each with a default, read when used (so tests and deployments override them)."""

from __future__ import annotations

import functools
import os

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from civicgrid.foundation.core.ratelimit import Limit

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_DESCRIPTION = 4000  # GeoReport v2: description "up to 4,000 characters"
MAX_MEDIA_URL = 500
MAX_ATTRIBUTE_TEXT = 1000
# A request body: GeoReport carries text only (photos are media_url links), and the longest report (a 4,000
# character description, attributes, ten links), percent-encoded, is well under this. Django's own limit
# (DATA_UPLOAD_MAX_MEMORY_SIZE) is set for the API's photo uploads, sixty times as much.
MAX_BODY = 1024 * 1024


_MISSING = object()
_read: dict[str, object] = {}  # name → the configured value (None: not configured), until a setting changes


def setting(name: str, default):
    """A setting from Django's settings, else from the environment (deployments configure by environment
    variables, as config/settings.py does), else the default. Read once per process (each report asks for
    several); a changed setting (`override_settings` in tests) is read afresh."""
    value = _read.get(name, _MISSING)
    if value is _MISSING:
        value = getattr(settings, name, None)
        if value is None:
            value = os.environ.get(name)
        _read[name] = value
    return default if value in (None, "") else value


@receiver(setting_changed)
def _forget(**_) -> None:
    _read.clear()


def address_limit() -> Limit:
    """The rate limit per caller address (`CIVICGRID_OPEN311_ADDRESS_RATE` per minute, `…_ADDRESS_BURST`)."""
    return Limit(float(setting("CIVICGRID_OPEN311_ADDRESS_RATE", 120)),
                 float(setting("CIVICGRID_OPEN311_ADDRESS_BURST", 40)))


def max_days() -> int:
    """The widest date range of a GET requests/updates search, and the default range (spec: 90 days)."""
    return int(setting("CIVICGRID_OPEN311_MAX_DAYS", 90))


def max_results() -> int:
    """The most rows one GET answers (spec: 1,000)."""
    return int(setting("CIVICGRID_OPEN311_MAX_RESULTS", 1000))


@functools.lru_cache(maxsize=1)
def _district_code() -> str:
    from civicgrid.foundation.regions.models import Level, Region

    return Region.objects.filter(level=Level.DISTRICT).order_by("code").values_list("code", flat=True).first() or ""


def jurisdictions() -> set[str]:
    """The jurisdiction ids this server answers for: `CIVICGRID_OPEN311_JURISDICTIONS` (comma separated), by
    default the district's division code (e.g. 140213), which a deployment's own regions data provides."""
    configured = setting("CIVICGRID_OPEN311_JURISDICTIONS", "")
    if isinstance(configured, str):
        configured = [j.strip() for j in configured.split(",")]
    found = {j for j in configured if j}
    if not found:
        code = _district_code()
        if not code:
            _district_code.cache_clear()  # regions not loaded yet: look again next time
        found = {code} if code else set()
    return found


def default_jurisdiction() -> str:
    return sorted(jurisdictions())[0] if jurisdictions() else ""


def contact() -> str:
    return setting("CIVICGRID_OPEN311_CONTACT", "平城区网格化服务管理中心 / Pingcheng District grid "
                                                           "management centre")


def key_service() -> str:
    return setting("CIVICGRID_OPEN311_KEY_SERVICE", "向区网格化服务管理中心申请 API key / ask the "
                                                                 "district grid management centre for an API key")


def endpoint_type() -> str:
    """`production` or `test`, as discovery tells clients."""
    return setting("CIVICGRID_OPEN311_ENDPOINT_TYPE", "production")


def catalogue_cache_seconds() -> float:
    """How long a process may reuse a service's category and attributes when checking a report (default 10 s;
    0 under tests, whose data changes between requests). Listings always read the database."""
    default = 0.0 if getattr(settings, "TESTING", False) else 10.0
    return float(setting("CIVICGRID_OPEN311_CATALOGUE_SECONDS", default))


def client_cache_seconds() -> float:
    """How long a process may reuse a looked-up client (0 disables). A change through the services (stopped,
    started, a new key, new limits) ends every process's copies at once (`services.CLIENT_GENERATION`); this
    bounds how long an entry is kept, and how long a change made around them (in the database) goes unseen."""
    return float(setting("CIVICGRID_OPEN311_CLIENT_CACHE_SECONDS", 5))
