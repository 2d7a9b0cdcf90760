"""Reads of cases, always from the scoped queryset (`Case.objects.visible_to(user)`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Prefetch, Q
from django.utils import timezone

from civicgrid.foundation.access.scope import get_visible_or_404, subtree_q
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.sla import services as sla

from .models import OPEN_STATUSES, Attachment, Case, CaseStep, Status
from .workflow import CASE_WORKFLOW


@dataclass
class CaseFilter:
    """The list's filters; every one optional."""

    status: str | None = None  # one status, several separated by commas, or "open"
    category: int | None = None  # the category or any of its subclasses
    region: str | None = None  # a region code: cases in its subtree
    department: int | None = None
    overdue: bool | None = None
    supervised: bool | None = None
    date_from: date | None = None  # reported on or after (district date)
    date_to: date | None = None  # reported on or before
    q: str | None = None  # number or a fragment of the title


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def case_list(user, f: CaseFilter):
    """The cases the user may see, filtered, newest first, with what a list row shows joined in."""
    qs = Case.objects.visible_to(user).select_related("category", "grid", "department")
    if f.status:
        wanted = {s.strip() for s in f.status.split(",") if s.strip()}
        if "open" in wanted:
            wanted = (wanted - {"open"}) | {str(s) for s in OPEN_STATUSES}
        unknown = wanted - set(Status.values)
        if unknown:
            raise ValidationFailed(f"未知的状态：{', '.join(sorted(unknown))[:60]} / unknown status", field="status")
        qs = qs.filter(status__in=sorted(wanted))
    if f.category:
        qs = qs.filter(Q(category_id=f.category) | Q(category__parent_id=f.category))
    if f.region:
        code = f.region.strip()
        if not code.isdigit() or len(code) not in (6, 9, 12, 15):
            raise ValidationFailed("region 须为区划代码 / region must be a region code", field="region")
        qs = qs.filter(subtree_q("region_code", code))
    if f.department:
        qs = qs.filter(department_id=f.department)
    if f.overdue is not None:
        qs = qs.filter(is_overdue=f.overdue)
    if f.supervised is not None:
        qs = qs.filter(is_supervised=f.supervised)
    if f.date_from:
        qs = qs.filter(reported_at__gte=_local_midnight(f.date_from))
    if f.date_to:
        qs = qs.filter(reported_at__lt=_local_midnight(f.date_to) + timezone.timedelta(days=1))
    if f.q:
        text = f.q.replace("\x00", "").strip()[:40]
        if text:
            qs = qs.filter(Q(number=text) | Q(title__contains=text))
    return qs.order_by("-reported_at", "-id")


def _detail_queryset():
    return Case.objects.select_related("category", "grid", "department", "suggested_department", "parent").prefetch_related(
        Prefetch("steps", queryset=CaseStep.objects.select_related("department").prefetch_related(
            Prefetch("attachments", queryset=Attachment.objects.order_by("id"))).order_by("at", "id")),
        Prefetch("attachments", queryset=Attachment.objects.order_by("id")),
    )


def case_detail(user, number: str) -> Case:
    """One case in scope with its timeline and photos (404 outside scope)."""
    return get_visible_or_404(_detail_queryset(), user, number=str(number)[:20])


def case_after_action(user, case: Case) -> Case:
    """The case as the actor left it. Usually still in their scope; when their own action moved it out (退回
    takes it from the department), they still get the state they left it in, and only that answer."""
    found = _detail_queryset().visible_to(user).filter(pk=case.pk).first()
    return found or _detail_queryset().get(pk=case.pk)


def allowed_actions(case: Case, user) -> list[dict]:
    """The buttons this user gets on this case now (the same table the services check against)."""
    return [{"name": t.name, "label": t.label, "style": t.style, "requires": list(t.requires)}
            for t in CASE_WORKFLOW.allowed(case, user)]


def clocks(case: Case) -> list[dict]:
    """The case's step clocks, newest first, with the share of budget used for open ones."""
    now = timezone.now()
    rows = []
    for c in sla.clocks_of(case)[:30]:
        info = {"kind": c.kind, "state": c.state, "started_at": c.started_at, "due_at": c.due_at,
                "stopped_at": c.stopped_at, "on_time": c.on_time, "warned": c.warned_at is not None,
                "breached": c.breached_at is not None, "ratio": None}
        if c.is_open:
            info["ratio"] = round(sla.progress(c, now)["ratio"], 3)
        rows.append(info)
    return rows
