"""The social-governance types about vulnerable people and about security or health leads are no longer public
services (`is_public`): 治安隐患 and all its subtypes (可疑人员或物品, 出租房屋治安隐患 …), 养老服务, 社会救助, 就业社保,
教育服务 and 传染病疫情线索. Open311 publishes the cases of public categories (description, place, steps), and
reports of these name an old person living alone, a family on 低保, a suspect, a patient.

`social_types.csv` says so for new databases; this does it in existing ones, for the categories no administrator
has changed (`edited_at` empty: an administrator's choice stands, as the loaders leave it). Each change is a
system change in the category's history (an audit record with before and after, actor "system"). Nothing is
done backwards: going back does not publish them again."""

from django.db import migrations
from django.utils import timezone

TAXONOMY = "social"
# frozen here (migrations must not read the live data file): the rows of social_types.csv marked 否 by this change
CODES = ("02", "0201", "0202", "0203", "0204", "0205", "0206", "0402", "0403", "0404", "0405", "0601")
REASON = ("涉及困难群体或治安、疫情线索的事件类型不再开放公众上报（Open311 不再公开发布） / types about vulnerable people "
          "or security and health leads are no longer public services (no longer published by Open311)")


def make_private(apps, schema_editor):
    Category = apps.get_model("categories", "Category")
    AuditEntry = apps.get_model("audit", "AuditEntry")
    now = timezone.now()
    found = list(Category.objects.filter(taxonomy__code=TAXONOMY, kind="event", code__in=CODES, is_public=True,
                                         edited_at__isnull=True).order_by("pk"))
    if not found:
        return
    Category.objects.filter(pk__in=[c.pk for c in found]).update(is_public=False, updated_at=now)
    AuditEntry.objects.bulk_create([
        AuditEntry(at=now, actor_name="system", action="data.changed", target_type="categories.category",
                   target_id=str(c.pk), target_repr=f"{c.code} {c.name}"[:200], before={"is_public": True},
                   after={"is_public": False}, data={"reason": REASON}, result="ok")
        for c in found
    ])


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0003_actor_do_nothing"),
        ("categories", "0003_history_labels"),
    ]

    operations = [
        migrations.RunPython(make_private, migrations.RunPython.noop),
    ]
