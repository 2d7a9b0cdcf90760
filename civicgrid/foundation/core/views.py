"""Health check (a fixed contract: GET /healthz → {"status": "ok"} after a database round trip; 503
{"status": "error", "detail": "database unavailable"} with Retry-After when the round trip fails).

When the rate-limit bucket store (core.ratelimit: the file, or Redis) does not answer, the host still serves (200:
reports go through unlimited, only token issuing is refused, and taking every host out of the load balancer for
a Redis they all share would stop the site), and the answer says so: {"status": "ok", "rate_limits":
"unavailable"}."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from . import dbdown, ratelimit


@require_safe
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        if dbdown.unavailable(exc):
            dbdown.refused(exc, "GET /healthz")
        else:
            logging.getLogger(__name__).exception("health check failed")
        answer = JsonResponse({"status": "error", "detail": "database unavailable"}, status=503)
        return dbdown.retry_after(answer)
    if not ratelimit.reachable():
        return JsonResponse({"status": "ok", "rate_limits": "unavailable"})
    return JsonResponse({"status": "ok"})
