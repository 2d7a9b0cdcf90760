"""`Case.reviewed_at` for the cases merged (合并) straight from 待受理 before 0018: the merge is a person's step
(`workflow.REVIEW_ACTIONS`), and Open311 now publishes such a report with its carrier once the carrier is
published (`open311.selectors.published`). 0018 filled the time only for cases accepted or auto-dispatched; these
take the time of the first step of the loop a person took on them (their merge, or a 派发核实 before it).
"""

from django.db import migrations
from django.db.models import OuterRef, Q, Subquery

# frozen as in 0018 (migrations must not import the live code)
REVIEW_ACTIONS = ("accept", "check_request", "check_result", "merge", "dispatch", "send_back", "start", "progress",
                  "request_extension", "decide_extension", "report_back", "verify", "rework", "close", "suspend",
                  "unsuspend", "supervise", "self_handle")
SYSTEM_USERNAME = "system-router"


def backfill(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    CaseStep = apps.get_model("cases", "CaseStep")
    first = (CaseStep.objects.filter(case=OuterRef("pk"), action__in=REVIEW_ACTIONS, actor__isnull=False)
             .exclude(Q(actor__username=SYSTEM_USERNAME)).order_by("at", "id").values("at")[:1])
    Case.objects.filter(status="merged", accepted_at__isnull=True, reviewed_at__isnull=True).update(
        reviewed_at=Subquery(first))


class Migration(migrations.Migration):
    dependencies = [("cases", "0018_case_reviewed_at")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
