"""A dispatcher's correction of the router (`RouterCorrection`) can be withdrawn: when a later dispatch or 改派 of
the case sends it to the department the router had suggested after all (the department chosen instead sent it
back), the row keeps what happened but no longer counts as the model being wrong (`withdrawn_at`, and the step
that sent it there, `withdrawn_step_id`).

Existing rows are settled once by the same rule (`corrections.withdraw_returned`, frozen here), each withdrawal
recorded in the audit trail as the system's, naming the case. Going back removes the fields."""

from django.db import migrations, models
from django.utils import timezone

ACTION = "router.correction_withdrawn"


def settle(apps, schema_editor):
    RouterCorrection = apps.get_model("router", "RouterCorrection")
    CaseStep = apps.get_model("cases", "CaseStep")
    Case = apps.get_model("cases", "Case")
    AuditEntry = apps.get_model("audit", "AuditEntry")
    live = list(RouterCorrection.objects.filter(withdrawn_at__isnull=True, department_changed=True,
                                                suggested_department_id__isnull=False).order_by("case_id", "step_id"))
    if not live:
        return
    case_ids = sorted({row.case_id for row in live})
    sends: dict[int, list] = {}
    cases: dict[int, tuple] = {}
    for start in range(0, len(case_ids), 500):
        chunk = case_ids[start:start + 500]
        for case_id, pk, at, data in (CaseStep.objects.filter(case_id__in=chunk, action__in=("dispatch", "redirect"))
                                      .order_by("pk").values_list("case_id", "pk", "at", "data")):
            sends.setdefault(case_id, []).append((pk, at, data))
        cases.update({pk: (number, region) for pk, number, region in
                      Case.objects.filter(pk__in=chunk).values_list("pk", "number", "region_code")})
    entries, now = [], timezone.now()
    for row in live:
        steps = sends.get(row.case_id, [])
        back = next(((pk, at) for pk, at, data in steps if pk > row.step_id and isinstance(data, dict)
                     and data.get("department") == row.suggested_department_id), None)
        if back is None:
            continue
        RouterCorrection.objects.filter(pk=row.pk).update(withdrawn_at=back[1], withdrawn_step_id=back[0])
        number, region = cases.get(row.case_id, ("", ""))
        corrected = next((data.get("rule_corrected") for pk, _at, data in steps
                          if pk == row.step_id and isinstance(data, dict)), None)
        entries.append(AuditEntry(
            at=now, actor_name="system", action=ACTION, target_type="router.routercorrection",
            target_id=str(row.pk), target_repr=f"correction of {row.suggested_label} on case {row.case_id}"[:200],
            region_code=region or "", before={"withdrawn_at": None, "withdrawn_step_id": None},
            after={"withdrawn_at": back[1].isoformat(), "withdrawn_step_id": back[0]},
            data={"case": number, "step": back[0], "department": row.suggested_department_id,
                  "department_chosen": row.department_id_chosen,
                  "rule_corrected": corrected.get("rule") if isinstance(corrected, dict) else None},
            result="ok"))
    AuditEntry.objects.bulk_create(entries)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0004_mask_stored_snapshots"),
        ("cases", "0025_routing_proposal"),
        ("router", "0003_demo_note_separator"),
    ]

    operations = [
        migrations.AddField(
            model_name="routercorrection",
            name="withdrawn_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="撤回时间"),
        ),
        migrations.AddField(
            model_name="routercorrection",
            name="withdrawn_step_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(settle, migrations.RunPython.noop),
    ]
