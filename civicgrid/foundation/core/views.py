"""Health check (a fixed contract: GET /healthz → {"status": "ok"} after a database round trip; 503
{"status": "error", "detail": "database unavailable"} with Retry-After when the round trip fails)."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from . import dbdown


@require_GET
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
    return JsonResponse({"status": "ok"})
