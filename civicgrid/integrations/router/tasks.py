"""Background retraining (`django.tasks`): the button on the router page and `POST /api/v1/router/retrain`.

Each request is a :class:`~civicgrid.integrations.router.models.RetrainRun` the task moves from queued to
running to done or failed; the page polls it (`versions.request_retrain` makes the row and enqueues)."""

from __future__ import annotations

from django.tasks import task


@task(queue_name="default")
def retrain(actor_id: int | None = None, activate: bool = True, run_id: int | None = None) -> dict:
    """Train from closed cases, register the version and (by default) activate it; a clear refusal when the
    cases are too few."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from civicgrid.foundation.core.errors import ValidationFailed

    from . import versions
    from .models import RetrainRun

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    run = RetrainRun.objects.filter(pk=run_id).first() if run_id else None
    if run is not None:
        if run.finished:  # a redelivered task
            return {"version": run.version.version if run.version_id else None, "detail": run.detail}
        RetrainRun.objects.filter(pk=run.pk).update(state=RetrainRun.State.RUNNING, started_at=timezone.now())
    try:
        v = versions.train_from_cases(actor=actor or "system", activate=activate)
    except ValidationFailed as exc:
        if run is not None:
            RetrainRun.objects.filter(pk=run.pk).update(state=RetrainRun.State.FAILED, finished_at=timezone.now(),
                                                        detail=exc.message[:500])
        return {"version": None, "detail": exc.message}
    except Exception as exc:
        if run is not None:
            RetrainRun.objects.filter(pk=run.pk).update(state=RetrainRun.State.FAILED, finished_at=timezone.now(),
                                                        detail=f"训练失败 / training failed: {exc}"[:500])
        raise
    macro = (v.metrics.get("cv") or {}).get("macro_f1")
    if run is not None:
        RetrainRun.objects.filter(pk=run.pk).update(
            state=RetrainRun.State.DONE, finished_at=timezone.now(), version=v,
            detail=f"新版本 {v.version}，{v.n_samples} 件，macro-F1 {macro}"[:500])
    return {"version": v.version, "active": v.is_active, "samples": v.n_samples, "macro_f1": macro, "detail": "ok"}
