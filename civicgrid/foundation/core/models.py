"""The foundation's own rows: the worker and web processes' heartbeats (`core.heartbeat`)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerBeat(models.Model):
    """One worker process as it last reported itself: when it started, when it was last seen at work, when it
    stopped (empty while it runs) and the last error of a pass. Written by the worker; a web server process
    keeps a row too (`kind` "web", about once a minute), which `restore` looks for."""

    WORKER, WEB = "worker", "web"

    worker_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=[(WORKER, _("后台进程")), (WEB, _("网站服务进程"))],
                            default=WORKER)
    host = models.CharField(max_length=100)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # The process's own CIVICGRID_PUBLIC_BASE_URL (empty: the SMS and email it sends carry bare paths).
    public_base_url = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("后台进程")
        verbose_name_plural = _("后台进程")

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"
