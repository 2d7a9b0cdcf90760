"""A Django Ninja throttle on the site's one rate limiter (`core.ratelimit`): its buckets are shared by every
process of the host (or every host, with Redis), so two web workers do not double a public door's limit as
Ninja's own throttles, kept in each process's cache, would."""

from __future__ import annotations

import threading

from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from . import ratelimit
from .middleware import client_ip


class SharedThrottle(BaseThrottle):
    """Each client address's bucket `name:addr:<ip>` under the limit two settings give (read on every request, so
    a changed setting applies at once). A failed store lets the request through, as public reporting does."""

    def __init__(self, name: str, rate_setting: str, burst_setting: str):
        self.name, self.rate_setting, self.burst_setting = name, rate_setting, burst_setting
        self._local = threading.local()  # one instance serves every thread of the process: the wait is per request

    def allow_request(self, request: HttpRequest) -> bool:
        limit = ratelimit.configured(self.rate_setting, self.burst_setting)
        wait = ratelimit.take(f"{self.name}:addr:{client_ip(request)}", limit)
        self._local.wait = wait
        return not wait

    def wait(self) -> float | None:
        wait = getattr(self._local, "wait", 0.0)
        return max(1, int(-(-wait // 1))) if wait else None


__all__ = ["SharedThrottle"]
