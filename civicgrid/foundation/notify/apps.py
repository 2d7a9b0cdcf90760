from django.apps import AppConfig


class NotifyConfig(AppConfig):
    """In-app inbox per user and pluggable outgoing senders (console by default)."""

    name = "civicgrid.foundation.notify"
    label = "notify"
    verbose_name = "消息通知"

    def ready(self):
        from django.core import checks
        from django.db.models import Q

        from ..core import jobs, keys, retention
        from .senders import check_senders
        from .services import TO_CONTEXT, deliver_pending

        # A sender setting naming a class that cannot be loaded stops `migrate`, `check` and the worker.
        checks.register(check_senders)

        # rotate_keys re-encrypts the recorded addresses with everything else.
        keys.register_encrypted_column("notify.OutgoingMessage", "to_enc", TO_CONTEXT)
        # Every worker pass hands over what the after-commit send could not (a gateway that was down).
        jobs.register("notify.retry", deliver_pending)
        # Where a message went is kept (encrypted) half a year, for complaints about it; the masked form stays.
        retention.register(retention.DataSet(
            key="notify.outgoing", label="短信、邮件的收件地址（发出后起算）", model="notify.OutgoingMessage",
            setting="CIVICGRID_RETAIN_MESSAGE_DAYS", default_days=180,
            expired=lambda cutoff: Q(created_at__lt=cutoff) & ~Q(status="queued"), cleared={"to_enc": ""}))
