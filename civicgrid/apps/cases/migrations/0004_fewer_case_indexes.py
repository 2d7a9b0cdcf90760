"""Fewer indexes on cases_case: every report INSERT and every transition UPDATE maintains each of them.

Dropped (each checked with EXPLAIN against the queries that read the column; see the app's README):
- `status`, `region_code`: prefixes of (status, region_code) and (region_code, reported_at);
- `department`: prefix of (department, status);
- `source`, `is_self_handled`, `accepted_by`, `dispatched_by`, `suggested_department`, `hotline_ticket`,
  `external_id`: no read filters or sorts on them alone (the evaluation reads them inside the period's rows);
- `is_overdue`, `is_supervised`: replaced by (region_code, reported_at) over the flagged rows only;
- `parent`: replaced by an index over the merged cases only (the merge moves a duplicate's children).

The single-column indexes are dropped by name (`DROP INDEX IF EXISTS`, PostgreSQL's `_like` twins of the
text columns too) instead of by AlterField: on SQLite, AlterField remakes the whole table once per field.
The state still records the fields without their indexes, so the autodetector sees the model as it is.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from civicgrid.foundation.core.migration_ops import AddIndexConcurrently

FIELDS = ("source", "status", "region_code", "hotline_ticket", "department", "suggested_department", "parent",
          "external_id", "is_overdue", "is_supervised", "is_self_handled", "accepted_by", "dispatched_by")


def _names(schema_editor, model):
    """The names Django gave these fields' indexes (PostgreSQL adds a `_like` twin for text columns)."""
    table = model._meta.db_table
    for name in FIELDS:
        column = model._meta.get_field(name).column
        index = schema_editor._create_index_name(table, [column], suffix="")
        yield index
        if schema_editor.connection.vendor == "postgresql":
            yield schema_editor._create_index_name(table, [column], suffix="_like")


def drop_indexes(apps, schema_editor):
    model = apps.get_model("cases", "Case")
    for index in _names(schema_editor, model):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(index)}")


def restore_indexes(apps, schema_editor):
    model = apps.get_model("cases", "Case")
    for name in FIELDS:
        field = model._meta.get_field(name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))
        like = getattr(schema_editor, "_create_like_index_sql", None)
        statement = like(model, field) if like else None
        if statement is not None:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    # The indexes are built CONCURRENTLY on PostgreSQL, which a transaction cannot hold (core.migration_ops).
    atomic = False

    dependencies = [
        ('cases', '0003_loop_services'),
        ('categories', '0002_category_kind_code_edited_at'),
        ('orgs', '0001_initial'),
        ('regions', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_indexes, restore_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name='case',
                    name='accepted_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='department',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='cases', to='orgs.organisation', verbose_name='处置部门'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='dispatched_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='external_id',
                    field=models.CharField(blank=True, max_length=64),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='hotline_ticket',
                    field=models.CharField(blank=True, max_length=40, verbose_name='热线工单号'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='is_overdue',
                    field=models.BooleanField(default=False, verbose_name='超期'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='is_self_handled',
                    field=models.BooleanField(default=False, verbose_name='自行处置'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='is_supervised',
                    field=models.BooleanField(default=False, verbose_name='督办'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='parent',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='merged_cases', to='cases.case', verbose_name='主案卷'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='region_code',
                    field=models.CharField(max_length=15),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='source',
                    field=models.CharField(choices=[('grid_worker', '网格员上报'), ('hotline', '12345热线转办'), ('public', '群众上报'), ('open311', '开放接口'), ('video', '视频发现'), ('superior', '上级交办'), ('drone', '无人机巡查'), ('self_handled', '自行处置')], max_length=16, verbose_name='来源'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='status',
                    field=models.CharField(choices=[('reported', '待受理'), ('checking', '核实中'), ('accepted', '待派遣'), ('dispatched', '待处置'), ('handling', '处置中'), ('handled', '待核查'), ('verified', '待结案'), ('closed', '已结案'), ('suspended', '挂账'), ('refused', '不予受理'), ('voided', '已作废'), ('merged', '已合并')], default='reported', max_length=16, verbose_name='状态'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='suggested_department',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='orgs.organisation'),
                ),
            ],
        ),
        AddIndexConcurrently(
            model_name='case',
            index=models.Index(condition=models.Q(('is_overdue', True)), fields=['region_code', 'reported_at'], name='cases_overdue_region_idx'),
        ),
        AddIndexConcurrently(
            model_name='case',
            index=models.Index(condition=models.Q(('is_supervised', True)), fields=['region_code', 'reported_at'], name='cases_supervised_region_idx'),
        ),
        AddIndexConcurrently(
            model_name='case',
            index=models.Index(condition=models.Q(('parent__isnull', False)), fields=['parent'], name='cases_merged_parent_idx'),
        ),
    ]
