"""A category's second flag, `in_public_feed` (公开到开放接口): whether Open311 lists it as a service and publishes
its cases without sign-in. `is_public` (开放公众上报) keeps its one meaning, that residents and volunteers may
report in it (web, phone, API), and is left as it was.

Existing categories get the flag as they were published until now: on where they are open to public reports, off
elsewhere (opening one to reports later does not publish it by itself). Then it is turned off, whatever an
administrator had edited (no one chose this flag before), for the types whose reports are about a person: the
social-governance types 治安隐患 and all its subtypes (可疑人员或物品, 出租房屋治安隐患 …), 养老服务, 社会救助, 就业社保,
教育服务 and 传染病疫情线索, and GB/T 47678.5 matter 09003 流浪乞讨. Residents still report them, and follow their
reports privately; only the public feed no longer shows them. Each of those that the feed published until now
gets a system change in its history (an audit record with before and after, actor "system"). Going back removes
the field."""

from django.db import migrations, models
from django.utils import timezone

# frozen here (migrations must not read the live data files): the rows marked 否 in the `feed` column
PRIVATE = {
    ("social", "event"): ("02", "0201", "0202", "0203", "0204", "0205", "0206", "0402", "0403", "0404", "0405",
                          "0601"),
    ("gbt47678_5_2026", "matter"): ("09003",),
}
REASON = ("涉及困难群体或治安、疫情线索的事件类型不再公开到开放接口（Open311），群众仍可上报 / types about vulnerable "
          "people or security and health leads are no longer published by Open311; residents still report them")


def fill(apps, schema_editor):
    Category = apps.get_model("categories", "Category")
    AuditEntry = apps.get_model("audit", "AuditEntry")
    Category.objects.filter(is_public=False).update(in_public_feed=False)
    now = timezone.now()
    entries = []
    for (taxonomy, kind), codes in PRIVATE.items():
        found = list(Category.objects.filter(taxonomy__code=taxonomy, kind=kind, code__in=codes,
                                             in_public_feed=True).order_by("pk"))
        if not found:
            continue
        Category.objects.filter(pk__in=[c.pk for c in found]).update(in_public_feed=False, updated_at=now)
        entries += [
            AuditEntry(at=now, actor_name="system", action="data.changed", target_type="categories.category",
                       target_id=str(c.pk), target_repr=f"{c.code} {c.name}"[:200], before={"in_public_feed": True},
                       after={"in_public_feed": False}, data={"reason": REASON}, result="ok")
            for c in found
        ]
    AuditEntry.objects.bulk_create(entries)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0003_actor_do_nothing"),
        ("categories", "0003_history_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="category",
            name="in_public_feed",
            field=models.BooleanField(default=True, verbose_name="公开到开放接口"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
