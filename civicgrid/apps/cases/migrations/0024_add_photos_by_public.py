"""补充照片 steps record whether a member of the public added the photos (`data.by_public`), so that staff read
their note masked as they read the rest of what the public wrote (`CaseStep.written_by_public`). The steps taken
before are marked by the roles their actor held at the step's time: none but resident or volunteer (and not a
superuser) is the public, as `services.intake.is_public_only` judges it for a new step."""

from django.db import migrations
from django.db.models import Q

PUBLIC_ROLES = {"resident", "volunteer"}


def mark(apps, schema_editor):
    CaseStep = apps.get_model("cases", "CaseStep")
    Grant = apps.get_model("access", "Grant")
    steps = CaseStep.objects.filter(action="add_photos", actor__isnull=False).select_related("actor")
    for step in steps.iterator(chunk_size=500):
        data = step.data if isinstance(step.data, dict) else {}
        if "by_public" in data:
            continue
        roles = set(Grant.objects.filter(user_id=step.actor_id, valid_from__lte=step.at)
                    .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=step.at)).values_list("role", flat=True))
        step.data = {**data, "by_public": not step.actor.is_superuser and roles <= PUBLIC_ROLES}
        step.save(update_fields=["data"])


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0023_case_redirect_count"),
        ("access", "0004_loginattempt_locked_until"),
    ]

    operations = [migrations.RunPython(mark, migrations.RunPython.noop)]
