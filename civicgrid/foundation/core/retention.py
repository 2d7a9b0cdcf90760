"""Retention periods for personal data (SECURITY.md, PIPL: "retention periods per data set; expired data is purged
or anonymised by a scheduled task").

An app registers each data set it keeps about people (`register(DataSet(...))`, in its `ready()`): which rows hold
it, from which moment its period runs, how long it is kept (a setting with a default and a floor) and which fields
are blanked when it runs out. The record itself stays (a closed case is an archive of the district's work); what
identified or reached the person goes. The worker applies every period once an hour (`apply`), in batches, one
audit entry per batch naming the data set and the count; `civicgrid retention` lists the periods and what is due,
and `--apply` runs them at once. A period of 0 keeps the data set for good; one below its floor is refused with
a clear error and nothing of that set is touched.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from .errors import ValidationFailed

log = logging.getLogger(__name__)

BATCH = 1000


@dataclass(frozen=True)
class DataSet:
    """Personal data in the rows of one model, blanked once its period has run out."""

    key: str  # "cases.reporter": names the set in the audit trail and on the command line
    label: str  # Chinese: what the set is and when its period starts
    model: str  # "app_label.Model"
    setting: str  # the setting that overrides `default_days`
    default_days: int
    expired: Callable[[datetime], models.Q]  # the rows whose period started before the cutoff
    cleared: dict  # field → the value it gets
    floor: Callable[[], int] = lambda: 1  # the shortest period allowed (days)
    # Repeat "still holding data" in each branch of `expired` (an OR), for partial indexes per branch
    # (`_each_branch`); off, the query is left as written (a set read through a join plans better so).
    per_branch: bool = False

    def days(self) -> int:
        """The period in days (0: kept for good); ValidationFailed below the floor."""
        raw = getattr(settings, self.setting, self.default_days)
        try:
            days = int(raw)
        except (TypeError, ValueError):
            raise ValidationFailed(f"{self.setting} 须为整数天数 / must be a whole number of days", field=self.setting) from None
        if days < 0 or 0 < days < self.floor():
            raise ValidationFailed(f"{self.setting} = {days}：{self.label}的保存期限不得短于 {self.floor()} 天（0 表示长期保存）"
                                   f" / must be 0 (keep) or at least {self.floor()} days", field=self.setting)
        return days

    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)

    def due(self, now: datetime | None = None) -> models.QuerySet | None:
        """The rows whose data is past its period and not yet blanked; None when the set is kept for good."""
        days = self.days()
        if days == 0:
            return None
        cutoff = (timezone.now() if now is None else now) - timedelta(days=days)
        # Rows already blanked are left out, so a pass over them finds nothing.
        expired, holding = self.expired(cutoff), ~models.Q(**self.cleared)
        return self.model_class().objects.filter(_each_branch(expired, holding) if self.per_branch
                                                 else expired & holding)


def _each_branch(expired: models.Q, holding: models.Q) -> models.Q:
    """`expired & holding`, with `holding` repeated in each branch when `expired` is an OR (the same rows).

    An app can index each branch's rows that still hold data (a partial index on the branch's date whose
    condition is the branch's fixed part and `holding`, as `cases_retention_closed_idx`): SQLite takes such an
    index for one branch of an OR only when that branch itself repeats the index's whole condition."""
    if expired.connector != models.Q.OR or expired.negated:
        return expired & holding
    return models.Q(*(models.Q(branch) & holding for branch in expired.children), _connector=models.Q.OR)


_sets: dict[str, DataSet] = {}


def register(data_set: DataSet) -> DataSet:
    """Add a data set (an app's `ready()`; the same key again replaces it)."""
    _sets[data_set.key] = data_set
    return data_set


def registered() -> list[DataSet]:
    """The registered sets whose model is installed (a test may run with only some apps), by key."""
    return sorted((s for s in _sets.values() if _installed(s.model)), key=lambda s: s.key)


def _installed(label: str) -> bool:
    try:
        apps.get_model(label)
    except LookupError:
        return False
    return True


def overview(now: datetime | None = None) -> list[dict]:
    """Each set: its key, label, period (or the error in its setting) and how many rows are due now."""
    rows = []
    for data_set in registered():
        try:
            days = data_set.days()
            due = data_set.due(now)
            rows.append({"key": data_set.key, "label": data_set.label, "days": days, "error": "",
                         "due": due.count() if due is not None else 0})
        except ValidationFailed as exc:
            rows.append({"key": data_set.key, "label": data_set.label, "days": None, "error": exc.message, "due": 0})
    return rows


def apply_one(data_set: DataSet, now: datetime | None = None, batch: int = BATCH) -> int:
    """Blank the data of one set past its period, `batch` rows per transaction with their audit entry; returns
    how many rows were blanked. ValidationFailed (nothing done) when its period is set wrong."""
    from civicgrid.foundation.audit import verbs
    from civicgrid.foundation.audit.service import record

    now = timezone.now() if now is None else now
    days = data_set.days()
    due = data_set.due(now)
    if due is None:
        return 0
    model = data_set.model_class()
    total = 0
    for ids in _batches(data_set, due, batch):
        with transaction.atomic():
            # Still due (a row changed since it was read is left alone): the batch is found by id.
            n = due.filter(pk__in=ids).update(**data_set.cleared)
            if not n:
                continue
            record(actor="system:retention", action=verbs.Data.ANONYMISED, target_type=model._meta.label_lower,
                   target_repr=data_set.label,
                   data={"set": data_set.key, "count": n, "days": days, "fields": sorted(data_set.cleared),
                         "first_id": ids[0], "last_id": ids[-1]})
        total += n
    return total


def _batches(data_set: DataSet, due: models.QuerySet, batch: int) -> Iterator[list[int]]:
    """The ids of the due rows, `batch` at a time, in id order.

    A set indexed per branch (`per_branch`) is read once through its indexes, which hold only the rows still
    holding data: with nothing due that is a probe, with a backlog it reads just that. Asking again for each
    batch would read the rest of them again each time (quadratic), and asking for id order makes SQLite with
    statistics (no histograms) walk the table in that order instead; so the ids are sorted here (8 bytes
    each once sorted: a backlog of 1,000,000 holds 8 MB). Not through `.iterator()`: PostgreSQL plans a
    server-side cursor for its first rows and, expecting many, scanned the table rather than the indexes.
    Any other set is paged through in id order, each batch from where the last stopped, which reads its
    table once."""
    if data_set.per_branch:
        pending = array("q", sorted(due.order_by().values_list("pk", flat=True)))
        for start in range(0, len(pending), batch):
            yield pending[start : start + batch].tolist()
        return
    last = None
    while True:
        page = due if last is None else due.filter(pk__gt=last)
        ids = list(page.order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return
        last = ids[-1]
        yield ids


def apply(now: datetime | None = None, batch: int = BATCH) -> dict[str, int]:
    """Every set's period (the worker, hourly). A set whose setting is wrong is logged and skipped; the others
    still run. Returns the rows blanked per set."""
    done = {}
    for data_set in registered():
        try:
            done[data_set.key] = apply_one(data_set, now, batch)
        except ValidationFailed as exc:
            log.error("retention of %s not applied: %s", data_set.key, exc.message)
    return done
