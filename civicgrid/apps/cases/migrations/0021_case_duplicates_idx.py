"""An index for the possible duplicates of a report: `(status, lat, lng, closed_at)`.

`duplicates.candidates` offers every open case (挂账 included) in a box around the point however old it is, and
the cases closed around the report's time; auto-dispatch asks it for each new case. Without a time bound on the
open cases the `reported_at` index no longer narrows the read, and `(status, region_code)` would read every open
case of the district; with this one each status is a range of latitudes, the longitude and closing time checked
in the index, and only the cases in the box are read. Built CONCURRENTLY on PostgreSQL (`core.migration_ops`).
"""

from django.db import migrations, models

from civicgrid.foundation.core.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('cases', '0020_satisfaction_of_present_closing'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='case',
            index=models.Index(fields=['status', 'lat', 'lng', 'closed_at'], name='cases_duplicates_idx'),
        ),
    ]
