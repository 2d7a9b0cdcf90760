from django.apps import AppConfig


class CasesConfig(AppConfig):
    """The grid-event closed loop: report → accept → dispatch → handle → verify → close → evaluate."""

    name = "civicgrid.apps.cases"
    label = "cases"
    verbose_name = "网格事件"

    def ready(self):
        from civicgrid.foundation.core import keys

        from . import handlers, workflow  # noqa: F401  (capabilities of the loop; SLA event handlers)
        from .recipients import EMAIL_CONTEXT, PHONE_CONTEXT
        from .services.intake import CASE_EMAIL_CONTEXT, CASE_PHONE_CONTEXT

        # rotate_keys re-encrypts reporters' contacts with every other personal field.
        keys.register_encrypted_column("cases.Case", "reporter_phone_enc", CASE_PHONE_CONTEXT)
        keys.register_encrypted_column("cases.Case", "reporter_email_enc", CASE_EMAIL_CONTEXT)
        keys.register_encrypted_column("cases.CaseReporter", "contact_enc", PHONE_CONTEXT)
        keys.register_encrypted_column("cases.CaseReporter", "email_enc", EMAIL_CONTEXT)
