"""Background retraining (`django.tasks`): the button on the triage page and `POST /api/v1/router/retrain`."""

from __future__ import annotations

from django.tasks import task


@task(queue_name="default")
def retrain(actor_id: int | None = None, activate: bool = True) -> dict:
    """Train from closed cases, register the version and (by default) activate it; a clear refusal when the
    cases are too few."""
    from django.contrib.auth import get_user_model

    from civicgrid.foundation.core.errors import ValidationFailed

    from . import versions

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    try:
        v = versions.train_from_cases(actor=actor or "system", activate=activate)
    except ValidationFailed as exc:
        return {"version": None, "detail": exc.message}
    return {"version": v.version, "active": v.is_active, "samples": v.n_samples,
            "macro_f1": (v.metrics.get("cv") or {}).get("macro_f1"), "detail": "ok"}
