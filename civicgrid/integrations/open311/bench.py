"""The intake benchmark's baseline: a view on the same stack (granian, Django, middleware, the database) that
reads the form and inserts one row, nothing else. Mounted only when `CIVICGRID_BENCH_ENDPOINTS=1`; its table
is created by `benchmarks/bench_intake.py` in the benchmark's own database (`TABLE`)."""

from django.db import connection, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

TABLE = "open311_bench_row"
CREATE = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, "
              f"device TEXT NOT NULL, body TEXT NOT NULL)",
    "postgresql": f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL, "
                  f"device TEXT NOT NULL, body TEXT NOT NULL)",
}


@csrf_exempt
def bench_insert(request):
    """Insert one row from the posted form; answer its id."""
    device = request.POST.get("device_id", "")[:100]
    body = request.POST.get("description", "")[:4000]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (at, device, body) VALUES (%s, %s, %s) RETURNING id",
                       [timezone.now(), device, body])
        row_id = cursor.fetchone()[0]
    return JsonResponse([{"service_request_id": str(row_id)}], safe=False, status=201)
