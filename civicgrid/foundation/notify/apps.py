from django.apps import AppConfig


class NotifyConfig(AppConfig):
    """In-app inbox per user and pluggable outgoing senders (console by default)."""

    name = "civicgrid.foundation.notify"
    label = "notify"
    verbose_name = "消息通知"

    def ready(self):
        from ..core import keys
        from .services import TO_CONTEXT

        # rotate_keys re-encrypts the recorded addresses with everything else.
        keys.register_encrypted_column("notify.OutgoingMessage", "to_enc", TO_CONTEXT)
