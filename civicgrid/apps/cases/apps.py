from django.apps import AppConfig


class CasesConfig(AppConfig):
    """The grid-event closed loop: report → accept → dispatch → handle → verify → close → evaluate."""

    name = "civicgrid.apps.cases"
    label = "cases"
    verbose_name = "网格事件"

    def ready(self):
        from civicgrid.apps.cases_documents import ledger_files
        from civicgrid.foundation.core import jobs, keys
        from civicgrid.foundation.sla import mirrors

        from . import handlers, workflow  # noqa: F401  (capabilities of the loop; SLA event handlers)
        from .clocks import follow_moved_deadlines
        from .recipients import EMAIL_CONTEXT, PHONE_CONTEXT
        from .services.intake import CASE_EMAIL_CONTEXT, CASE_PHONE_CONTEXT

        # rotate_keys re-encrypts reporters' contacts with every other personal field.
        keys.register_encrypted_column("cases.Case", "reporter_phone_enc", CASE_PHONE_CONTEXT)
        keys.register_encrypted_column("cases.Case", "reporter_email_enc", CASE_EMAIL_CONTEXT)
        keys.register_encrypted_column("cases.CaseReporter", "contact_enc", PHONE_CONTEXT)
        keys.register_encrypted_column("cases.CaseReporter", "email_enc", EMAIL_CONTEXT)
        register_retention()
        # 处置期限 is the handling clock's deadline: a working-calendar change moves both together.
        mirrors.follow("cases.case", follow_moved_deadlines)
        # Ledgers the worker built are removed past CIVICGRID_LEDGER_KEEP_HOURS, asked for again or not.
        jobs.register("cases.ledger_purge", ledger_files.purge_job)


def reporter_floor() -> int:
    """The shortest retention of reporters' data: past the reopening window, and at least 30 days."""
    from .conf import reopen_days

    return max(30, reopen_days() + 1)


def register_retention() -> None:
    """Reporters' names and contacts, kept `CIVICGRID_RETAIN_REPORTER_DAYS` (default two years) after the loop
    ended, for callbacks, ratings and complaints; then blanked (the case itself stays)."""
    from civicgrid.foundation.core import retention

    from .models import REPORTER_DATA_CLEARED, finished_before

    for key, label, model, cleared, prefix in (
        ("cases.reporter", "事件报告人的姓名和联系方式（结案、不予受理、作废或合并后起算）", "cases.Case",
         REPORTER_DATA_CLEARED, ""),
        ("cases.followers", "事件关注人（含被合并案件的报告人）的姓名和联系方式（所关注案件结案、不予受理、作废或合并后起算）", "cases.CaseReporter",
         {"name": "", "contact_enc": "", "email_enc": ""}, "case__"),
    ):
        retention.register(retention.DataSet(
            key=key, label=label, model=model, setting="CIVICGRID_RETAIN_REPORTER_DAYS", default_days=730,
            expired=lambda cutoff, prefix=prefix: finished_before(cutoff, prefix), cleared=cleared,
            floor=reporter_floor, per_branch=not prefix))  # the case's own: see Case's retention indexes
