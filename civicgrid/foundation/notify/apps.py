from django.apps import AppConfig


class NotifyConfig(AppConfig):
    """In-app inbox per user and pluggable outgoing senders (console by default)."""

    name = "civicgrid.foundation.notify"
    label = "notify"
    verbose_name = "消息通知"
