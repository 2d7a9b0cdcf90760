"""Trying again what the background work gave up on: outbox events, email and SMS (one service shape for both),
and failed background tasks that only redo derived work.

An administrator (`config.manage`) chooses rows, or all of them. Every chosen row must still be one that gave
up, or nothing changes and the error names the rows that are not (another administrator retried them meanwhile,
or the prune removed them). The rows get a fresh set of attempts and the retry is audited, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from .errors import PermissionDenied, ValidationFailed

CAPABILITY = "config.manage"


def retry_chosen(queryset: models.QuerySet, ids: Iterable[int] | None, *, actor, action: str, reset: dict,
                 what: str) -> int:
    """Reset `reset` on the rows of `queryset` named by `ids` (None: all of them); returns how many. `actor`
    None is the system itself (a command); a person needs `config.manage`. `what` names the rows in Chinese for
    the error message."""
    from civicgrid.foundation.access.scope import has_capability
    from civicgrid.foundation.audit.service import record

    if actor is not None and not has_capability(actor, CAPABILITY):
        raise PermissionDenied(f"只有系统管理员可以重试{what} / config.manage required")
    chosen = None if ids is None else sorted(set(ids))
    if chosen is not None and not chosen:
        raise ValidationFailed(f"请先勾选要重试的{what} / choose what to retry", field="id")
    with transaction.atomic():
        rows = queryset
        if chosen is not None:
            rows = queryset.filter(pk__in=chosen)
            found = set(rows.values_list("pk", flat=True))
            if found != set(chosen):
                missing = ", ".join(str(i) for i in sorted(set(chosen) - found)[:5])
                raise ValidationFailed(f"以下{what}已不在「放弃重试」之列（已重试或已删除）：{missing}，未作任何改动 / "
                                       f"no longer given up: {missing}; nothing was changed", field="id")
        n = rows.update(**reset)
        record(actor=actor if actor is not None else "system", action=action,
               data={"ids": chosen if chosen is not None else "all", "count": n})
    return n


# ------------------------------------------------------------------------------------------ background tasks
# `django.tasks` tasks (django-tasks-db) that failed: imports, the router's retraining, the SLA clocks moved after
# a calendar change, the outbox prune. An import or a retraining has its own page with its outcome and its own
# way to try again; a task that only redoes derived work from the data as it is now may simply run again.

TASK_LABELS = {
    "civicgrid.foundation.imports.tasks.run_import_task": _("数据导入"),
    "civicgrid.integrations.router.tasks.retrain": _("智能分拨模型训练"),
    "civicgrid.foundation.sla.sweep.reschedule_task": _("工作日历变更后重算在办时限"),
    "civicgrid.foundation.events.tasks.prune_outbox": _("清理已投递的领域事件"),
}
RERUNNABLE = {"civicgrid.foundation.sla.sweep.reschedule_task", "civicgrid.foundation.events.tasks.prune_outbox"}


def task_results():
    """The task results of django-tasks-db, or None when the deployment runs tasks another way."""
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - django-tasks-db is a dependency; a deployment may drop it
        return None
    return DBTaskResult.objects.all()


def rerun_task(result_id, *, actor) -> str:
    """Enqueue a failed task again with its arguments (only tasks in `RERUNNABLE`); audited. Returns the new
    result's id. A result that is not a failed, rerunnable task is refused and nothing is queued."""
    from django.tasks import TaskResultStatus
    from django.utils.module_loading import import_string

    from civicgrid.foundation.access.scope import has_capability
    from civicgrid.foundation.audit import verbs
    from civicgrid.foundation.audit.service import record

    if actor is not None and not has_capability(actor, CAPABILITY):
        raise PermissionDenied("只有系统管理员可以重新运行后台任务 / config.manage required")
    results = task_results()
    failed = None
    if results is not None:
        try:
            failed = results.filter(pk=str(result_id), status=TaskResultStatus.FAILED).first()
        except (ValueError, ValidationError):  # not a UUID
            failed = None
    if failed is None:
        raise ValidationFailed("该后台任务不存在或没有失败，未作任何改动 / no such failed task", field="id")
    if failed.task_path not in RERUNNABLE:
        raise ValidationFailed(f"「{TASK_LABELS.get(failed.task_path, failed.task_path)}」不能在此重新运行，请到它自己的页面处理"
                               f" / this task is retried from its own page", field="id")
    with transaction.atomic():
        arguments = failed.args_kwargs or {}
        new = import_string(failed.task_path).enqueue(*arguments.get("args", []), **arguments.get("kwargs", {}))
        record(actor=actor if actor is not None else "system", action=verbs.Ops.TASK_RERUN, target_repr=failed.task_path,
               data={"failed": str(failed.pk), "rerun": str(new.id), "task": failed.task_path})
    return str(new.id)
