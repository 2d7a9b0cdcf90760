"""Make the 包保 ledger and the 包保 routing rules agree, once, before `categories.services.assign_patron`
keeps them together.

Until now the rule screen changed 包保 rules while `PatronAssignment` kept what the demo loader wrote, so a
street could route its 防汛应急 cases to one department while flood tasks, hazards and materials named another.
Per street, in code order: an enabled 包保 rule of the flood class decides (the one routing picks: highest
priority, then newest; it is what cases already follow and the only place anyone could edit); otherwise the
ledger row does. The other side is then set to that department: the ledger row written or created, every 包保
rule of the class on the street sent there and enabled, a missing rule created. A street with neither an
enabled rule nor a ledger row has no 包保 and is left alone."""

from django.db import migrations

# `categories.services.PATRON_LEDGER["flood"]` as it stands at this migration (taxonomy, category kind, code).
FLOOD_CLASSES = (("social", "event", "07"),)


def reconcile(apps, schema_editor):
    Category = apps.get_model("categories", "Category")
    RoutingRule = apps.get_model("categories", "RoutingRule")
    PatronAssignment = apps.get_model("hazards", "PatronAssignment")
    Region = apps.get_model("regions", "Region")
    classes = [c for c in (Category.objects.filter(taxonomy__code=t, kind=k, code=code).first()
                           for t, k, code in FLOOD_CLASSES) if c is not None]
    rules = RoutingRule.objects.filter(kind="patron", category__in=classes, region_code__regex=r"^[0-9]{9}$")
    ledger = {a.street_code: a for a in PatronAssignment.objects.filter(kind="flood")}
    for code in sorted(set(rules.values_list("region_code", flat=True)) | set(ledger)):
        street = Region.objects.filter(code=code, level="street").first()
        if street is None:
            continue
        here = list(rules.filter(region_code=code).order_by("-priority", "-id"))
        enabled = [r for r in here if r.is_active]
        row = ledger.get(code)
        department_id = enabled[0].department_id if enabled else (row.department_id if row else None)
        if department_id is None:
            continue
        if row is None:
            PatronAssignment.objects.create(department_id=department_id, street=street, street_code=code,
                                            kind="flood", note="汛期包保（按分拨规则补录）")
        elif row.department_id != department_id:
            row.department_id = department_id
            row.save(update_fields=["department"])
        for rule in here:
            if rule.department_id != department_id or not rule.is_active:
                rule.department_id, rule.is_active = department_id, True
                rule.save(update_fields=["department", "is_active", "updated_at"])
        for category in classes:
            if not any(r.category_id == category.pk for r in here):
                RoutingRule.objects.create(category=category, region_code=code, department_id=department_id,
                                           kind="patron", note="汛期包保（按包保关系补录）")


class Migration(migrations.Migration):
    dependencies = [
        ("hazards", "0001_initial"),
        ("categories", "0006_limit_unit_working_hours_label"),
    ]

    operations = [migrations.RunPython(reconcile, migrations.RunPython.noop)]
