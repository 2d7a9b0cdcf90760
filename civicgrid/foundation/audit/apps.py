from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Append-only audit trail of writes, security events and sensitive reads."""

    name = "civicgrid.foundation.audit"
    label = "audit"
    verbose_name = "审计"
