"""Model versions: register a trained model, activate one (rollback = activate an older one), retrain from the
platform's own closed cases. Every change is audited (`router.register`, `router.activate`, `router.retrain`).

    from civicgrid.integrations.router import versions
    v = versions.register("/tmp/model", actor=admin, source="csv:history.csv", activate=True)
    versions.activate(older, actor=admin)           # rollback
    versions.train_from_cases(actor=None, activate=True)
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.core.errors import ValidationFailed

from . import model as router_model
from .models import LabelKind, RouterModelVersion

MODEL_FILES = (router_model.WEIGHTS_FILE, router_model.VOCAB_FILE, router_model.META_FILE)


class RetrainRefused(ValidationFailed):
    """Not enough closed cases to learn from (the message says what is missing)."""


def models_root() -> Path:
    """``<CIVICGRID_DATA_DIR>/models/router`` (``CIVICGRID_ROUTER_MODELS_DIR`` overrides)."""
    override = getattr(settings, "CIVICGRID_ROUTER_MODELS_DIR", None)
    if override:
        return Path(override)
    return Path(getattr(settings, "DATA_DIR", "var")) / "models" / "router"


def _actor(actor):
    return actor if getattr(actor, "is_authenticated", False) else (actor if isinstance(actor, str) else "system")


def _snap(v: RouterModelVersion | None) -> dict | None:
    if v is None:
        return None
    return {"version": v.version, "is_active": v.is_active, "path": v.path, "labels": v.labels}


def new_version_id() -> str:
    return f"{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _metrics(meta: dict) -> dict:
    keep = ("cv", "label_counts", "n_features", "train_seconds", "created_at", "params", "versions")
    return {k: meta[k] for k in keep if k in meta}


def register(model_dir, *, actor, source: str = "", label_kind: str = LabelKind.AUTO, activate: bool = False,
             note: str = "", version: str | None = None) -> RouterModelVersion:
    """Copy a saved model into the models directory as a new version (verifying it loads) and record it."""
    src = Path(model_dir)
    loaded = router_model.load(src, use_cache=False)  # raises ModelIntegrityError on a broken directory
    if label_kind not in LabelKind.values:
        raise ValidationFailed(f"未知的标签类型 / unknown label kind: {label_kind}", field="label_kind")
    version = version or new_version_id()
    dest = models_root() / version
    if src.resolve() != dest.resolve():
        dest.mkdir(parents=True, exist_ok=False)
        for name in MODEL_FILES:
            shutil.copy2(src / name, dest / name)
    meta = json.loads((dest / router_model.META_FILE).read_text(encoding="utf-8"))
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        v = RouterModelVersion.objects.create(
            version=version, path=str(dest.resolve()), created_by=user, labels=list(loaded.labels),
            label_kind=label_kind, metrics=_metrics(meta), source=str(source)[:200],
            n_samples=int(meta.get("n_samples") or 0), content_hash=str(meta.get("content_hash") or ""),
            note=str(note)[:200],
        )
        audit.record(actor=_actor(actor), action="router.register", target=v, after=_snap(v),
                     data={"source": v.source, "labels": v.labels, "metrics": v.metrics.get("cv")})
        if activate:
            v = activate_version(v, actor=actor)
    return v


def activate_version(version, *, actor) -> RouterModelVersion:
    """Make ``version`` (instance, id or version string) the live model; the previous one is kept for rollback."""
    with transaction.atomic():
        v = _get(version, lock=True)
        previous = RouterModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=v.pk).first()
        before = _snap(v)
        RouterModelVersion.objects.filter(is_active=True).exclude(pk=v.pk).update(is_active=False)
        v.is_active = True
        v.activated_at = timezone.now()
        v.save(update_fields=["is_active", "activated_at"])
        audit.record(actor=_actor(actor), action="router.activate", target=v, before=before, after=_snap(v),
                     data={"previous": previous.version if previous else None,
                           "rollback": bool(previous and previous.created_at > v.created_at)})
    from . import service

    service.clear_cache()
    return v


activate = activate_version


def _get(version, *, lock: bool = False) -> RouterModelVersion:
    qs = RouterModelVersion.objects.all()
    if lock:
        qs = qs.select_for_update()
    if isinstance(version, RouterModelVersion):
        found = qs.filter(pk=version.pk).first()
    elif isinstance(version, int) or str(version).isdigit():
        found = qs.filter(pk=int(version)).first() if 0 < int(version) < 2**63 else None
    else:
        found = qs.filter(version=str(version)[:40]).first()
    if found is None:
        from civicgrid.foundation.core.errors import NotFound

        raise NotFound(f"未找到模型版本 / model version not found: {str(version)[:40]}")
    if not Path(found.path).is_dir():
        raise ValidationFailed(f"模型文件已不存在，不能启用 / the model files are gone: {found.path}", field="version")
    return found


def active() -> RouterModelVersion | None:
    return RouterModelVersion.objects.filter(is_active=True).order_by("-activated_at", "-id").first()


# ------------------------------------------------------------------------------------ retraining from cases
MIN_LABELS = 2
MIN_PER_LABEL = 2


def closed_case_examples() -> tuple[list[str], list[str]]:
    """(texts, labels) of closed cases: title + description, the department finally dispatched to.

    Dispatchers' corrections are in it by construction: the label is where the case was really sent.
    """
    from civicgrid.apps.cases.models import Case, Status

    rows = (Case.objects.filter(status=Status.CLOSED, department__isnull=False, is_self_handled=False)
            .values_list("title", "description", "department__name").order_by("pk"))
    texts, labels = [], []
    for title, description, dept in rows.iterator():
        texts.append(f"{title}\n{description}".strip())
        labels.append(dept)
    return texts, labels


def train_from_cases(*, actor=None, activate: bool = True, **params) -> RouterModelVersion:
    """Train a department model from closed cases and register it (and, by default, activate it)."""
    texts, labels = closed_case_examples()
    counts = Counter(labels)
    usable = {lab for lab, n in counts.items() if n >= MIN_PER_LABEL}
    if len(usable) < MIN_LABELS:
        raise RetrainRefused(
            f"已结案事件不足以训练：需要至少 {MIN_LABELS} 个处置部门、每个至少 {MIN_PER_LABEL} 件已结案事件，"
            f"现有 {len(usable)} 个部门满足（共 {len(labels)} 件） / not enough closed cases to retrain: need at "
            f"least {MIN_LABELS} departments with {MIN_PER_LABEL} closed cases each, {len(usable)} qualify "
            f"({len(labels)} closed cases)", field="cases")
    pairs = [(t, lab) for t, lab in zip(texts, labels, strict=True) if lab in usable]
    model = router_model.train([t for t, _ in pairs], [lab for _, lab in pairs], **params)
    version = new_version_id()
    dest = models_root() / version
    router_model.save(model, dest)
    v = register(dest, actor=actor, source=f"cases:closed ({len(pairs)})", label_kind=LabelKind.DEPARTMENT,
                 activate=False, version=version, note="从已结案事件重新训练 / retrained from closed cases")
    audit.record(actor=_actor(actor), action="router.retrain", target=v,
                 data={"samples": len(pairs), "labels": sorted(usable), "dropped": len(labels) - len(pairs)})
    if activate:
        v = activate_version(v, actor=actor)
    return v


def closed_case_counts() -> Counter:
    """Closed cases per label (department name) of ``closed_case_examples``, counted by the database."""
    from django.db.models import Count

    from civicgrid.apps.cases.models import Case, Status

    rows = (Case.objects.filter(status=Status.CLOSED, department__isnull=False, is_self_handled=False)
            .values_list("department__name").annotate(n=Count("id")).order_by())
    counts = Counter()
    for name, n in rows:
        counts[name] += n
    return counts


def check_enough_cases() -> None:
    """Refuse at once (before queueing anything) when closed cases are too few to learn from. Counted, not
    read: the request that queues a retraining must not load every closed case's text."""
    usable = [lab for lab, n in closed_case_counts().items() if n >= MIN_PER_LABEL]
    if len(usable) < MIN_LABELS:
        raise RetrainRefused(
            f"已结案事件不足以训练：需要至少 {MIN_LABELS} 个处置部门、每个至少 {MIN_PER_LABEL} 件已结案事件，"
            f"现有 {len(usable)} 个部门满足 / not enough closed cases to retrain: {len(usable)} department(s) "
            f"with ≥ {MIN_PER_LABEL} closed cases, {MIN_LABELS} needed", field="cases")


def request_retrain(*, actor, activate: bool = True):
    """Queue a retraining from closed cases (`router.manage`): a RetrainRun row, audited, and the task.

    With the immediate task backend (tests) the run has finished when this returns."""
    from civicgrid.foundation.access.scope import has_capability
    from civicgrid.foundation.core.errors import PermissionDenied

    from . import tasks
    from .models import RetrainRun
    from .permissions import MANAGE

    if not has_capability(actor, MANAGE):
        raise PermissionDenied("您无权管理分拨模型 / router.manage required")
    check_enough_cases()
    with transaction.atomic():
        run = RetrainRun.objects.create(requested_by=actor, activate=bool(activate))
        audit.record(actor=actor, action="router.retrain_requested", target=run,
                     data={"activate": bool(activate)})
    # The database task backend stores the task in the same database: a rolled-back caller leaves no task.
    tasks.retrain.enqueue(actor_id=actor.pk, activate=bool(activate), run_id=run.pk)
    run.refresh_from_db()
    return run
