"""投诉 out of the keywords of social-governance type 0106 消费纠纷: every complaint says 投诉, so the category
suggestion (`categories.matching`) put 消费纠纷 on top of reports about anything. `data/social_types.csv` no longer
lists it; the loaders only fill empty fields, so the categories already loaded are changed here — those no one has
edited (`edited_at` empty), as the loaders would treat them — each with a system change in its history. Going
back leaves the keywords as they are."""

from django.db import migrations
from django.utils import timezone

WORD = "投诉"
REASON = ("消费纠纷不再以「投诉」为关键词：每条投诉都含这个词，分类建议因此总把消费纠纷排在前面 / 投诉 is no longer a "
          "keyword of 消费纠纷: every complaint says it, so category suggestions put 消费纠纷 first")


def drop_word(apps, schema_editor):
    Category = apps.get_model("categories", "Category")
    AuditEntry = apps.get_model("audit", "AuditEntry")
    now = timezone.now()
    entries = []
    for c in Category.objects.filter(taxonomy__code="social", kind="event", code="0106", edited_at__isnull=True):
        words = c.keywords.split(",")
        if WORD not in words:
            continue
        keywords = ",".join(w for w in words if w != WORD)
        Category.objects.filter(pk=c.pk).update(keywords=keywords, updated_at=now)
        entries.append(AuditEntry(
            at=now, actor_name="system", action="data.changed", target_type="categories.category",
            target_id=str(c.pk), target_repr=f"{c.code} {c.name}"[:200], before={"keywords": c.keywords},
            after={"keywords": keywords}, data={"reason": REASON}, result="ok"))
    AuditEntry.objects.bulk_create(entries)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0004_mask_stored_snapshots"),
        ("categories", "0006_limit_unit_working_hours_label"),
    ]

    operations = [migrations.RunPython(drop_word, migrations.RunPython.noop)]
