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

    def refusal(self, request: HttpRequest) -> ratelimit.RateLimited | None:
        """Take a token from the caller's bucket: the refusal (429, `Retry-After`) once it is empty, else None. A
        page behind the same door calls this, so that it and the API spend one bucket."""
        limit = ratelimit.configured(self.rate_setting, self.burst_setting)
        wait = ratelimit.take(f"{self.name}:addr:{client_ip(request)}", limit)
        return ratelimit.RateLimited(wait) if wait else None

    def allow_request(self, request: HttpRequest) -> bool:
        refused = self.refusal(request)
        self._local.wait = refused.retry_after if refused else None
        return refused is None

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)


__all__ = ["SharedThrottle"]
