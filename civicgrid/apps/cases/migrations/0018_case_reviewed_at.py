"""`Case.reviewed_at`: when a person on the staff first took the case in hand. Open311 publishes what a reporter
wrote, sent and where it is only from then on, so a case the router accepted and dispatched by itself is not a
public pin before anyone has read it.

Cases stored before: one accepted by a person (the router never set `accepted_by`, and flagged what it dispatched
`auto_dispatched`) was read at its 立案, so it stays published as before; one the router accepted takes the time of
the first step of the loop a person took on it (an account other than the router's `system-router`), and stays
unpublished until there is one.
"""

from django.db import migrations, models
from django.db.models import OuterRef, Q, Subquery

# `workflow.REVIEW_ACTIONS` and the router's account, frozen here as migrations must not import the live code.
REVIEW_ACTIONS = ("accept", "check_request", "check_result", "merge", "dispatch", "send_back", "start", "progress",
                  "request_extension", "decide_extension", "report_back", "verify", "rework", "close", "suspend",
                  "unsuspend", "supervise", "self_handle")
SYSTEM_USERNAME = "system-router"


def backfill(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    CaseStep = apps.get_model("cases", "CaseStep")
    Case.objects.filter(accepted_at__isnull=False, auto_dispatched=False).update(reviewed_at=models.F("accepted_at"))
    first = (CaseStep.objects.filter(case=OuterRef("pk"), action__in=REVIEW_ACTIONS, actor__isnull=False)
             .exclude(Q(actor__username=SYSTEM_USERNAME)).order_by("at", "id").values("at")[:1])
    Case.objects.filter(auto_dispatched=True, reviewed_at__isnull=True).update(reviewed_at=Subquery(first))


class Migration(migrations.Migration):
    dependencies = [("cases", "0017_hotline_ticket_once")]

    operations = [
        migrations.AddField(model_name="case", name="reviewed_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
