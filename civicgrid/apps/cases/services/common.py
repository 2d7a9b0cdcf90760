"""Pieces every case service uses: the step record, audit, event, and the checks of scope and inputs."""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager

from django.db import connection

from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.audit.service import actor_label, snapshot, user_or_none  # noqa: F401  (used by the services)
from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.events import bus as events

from .. import conf
from .. import photos as photo_mod
from ..models import Case, CaseStep


class MissingInput(ValidationFailed):
    """A required input of an action is empty (422, like any other unprocessable request body)."""

    status = 422
    code = "missing"


NOT_FOUND = "未找到该事件，或不在您的权限范围内 / case not found"
AUDIT_PREFIX = "cases."


def truthy(value) -> bool:
    """A flag from JSON or a form ("true", "1", "on", True)."""
    return value if isinstance(value, bool) else str(value).strip().lower() in {"1", "true", "yes", "on"}


def lock(case: Case) -> Case:
    """The case re-read inside the transaction (row-locked on PostgreSQL), so checks see its current state."""
    qs = Case.objects.select_related("category", "department")
    if connection.features.has_select_for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=case.pk)
    except Case.DoesNotExist:
        raise NotFound(NOT_FOUND) from None


def ensure_visible(actor, case: Case, action: str = "view") -> None:
    """404 unless the case is within the actor's scope for `action` (missing and out of scope look alike)."""
    if not Case.objects.visible_to(actor, action).filter(pk=case.pk).exists():
        raise NotFound(NOT_FOUND)


def ensure_capability_scope(actor, case: Case, capability: str, label: str) -> None:
    """403 when the actor sees the case but their grant for `capability` does not reach it."""
    if not capability.startswith("cases.") or not has_capability(actor, capability):
        raise PermissionDenied(f"您无权执行「{label}」 / your role may not do this ({capability} is needed)")
    if capability not in case.capabilities_in_scope(actor, {capability}):  # the buttons ask the same
        raise PermissionDenied(f"该事件不在您「{label}」的权限范围内 / outside the scope of your role")


def drop_extension_request(case: Case, data: dict) -> None:
    """End a waiting 延期 request with the handling it was asked for (处置反馈, 退回, 挂账, a new 派遣): the case
    forgets it, so nobody is offered a decision on it and the next department may ask its own. The step's `data`
    keeps the hours that had been asked for; the approvers' messages asking for that decision are settled as
    已撤销 (withdrawn) with the transition's other task messages (`recipients.TASKS`)."""
    if not case.extension_pending:
        return
    data["extension_dropped"] = case.extension_hours
    case.extension_pending = False
    case.extension_hours = None


def add_step(case: Case, *, action: str, actor, at, from_status: str = "", to_status: str = "", note: str = "",
             data: dict | None = None, department=None, note_en: str = "", idempotency_key: str | None = None
             ) -> CaseStep:
    """One entry of the case's timeline (`note_en`: the English of a note the system wrote; `idempotency_key`:
    the hashed one-time key of the form or request that asked for it, `step_key`)."""
    return CaseStep.record_step(case=case, action=action, actor=actor, at=at, from_status=from_status,
                                to_status=to_status, note=note, data=data, department=department, note_en=note_en,
                                idempotency_key=idempotency_key)


MAX_KEY_LENGTH = 200  # like a report's key (`intake.MAX_KEY_LENGTH`)


def step_key(owner, key) -> str | None:
    """The stored form of a step's one-time key: bound to whoever sent it (`owner`: an account, a system part's
    name, or a follow link's token as a string starting "follow:"), so nobody else's key can ever match. None
    without a key."""
    if key is None or str(key).strip() == "":
        return None
    key = str(key).strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed("幂等键过长 / idempotency key too long", field="idempotency_key")
    if isinstance(owner, str):
        who = owner
    else:
        who = f"user:{owner.pk}" if user_or_none(owner) else f"name:{actor_label(owner)}"
    return hashlib.sha256(f"step\x00{who}\x00{key}".encode()).hexdigest()


def replayed_step(key: str | None, case: Case | None, action: str) -> CaseStep | None:
    """The step an earlier sending of the same key made (a form or request sent again after its answer was
    lost), or None. The same key for another case or another action is refused (409): a key names one step."""
    if not key:
        return None
    step = CaseStep.objects.filter(idempotency_key=key).first()
    if step is None:
        return None
    if (case is not None and step.case_id != case.pk) or step.action != action:
        raise Conflict("此提交编号已用于另一项操作，请刷新页面后重试 / the idempotency key was already used for another "
                       "action", field="idempotency_key")
    return step


def audit_entry(case: Case, *, actor, action: str, before: dict | None, data: dict | None = None):
    """The unsaved audit entry of one case action (before/after snapshots, encrypted contacts masked)."""
    return audit.entry(actor=user_or_none(actor) or actor_label(actor), action=AUDIT_PREFIX + action, target=case,
                       before=before, after=snapshot(case), data=data)


def record(case: Case, *, actor, action: str, before: dict | None, data: dict | None = None) -> None:
    """Write the audit entry of one case action."""
    audit_entry(case, actor=actor, action=action, before=before, data=data).save(force_insert=True)


def publish(case: Case, topic: str, **payload) -> None:
    """`case.<topic>` to the outbox, with what subscribers need to route it without reading the case."""
    events.publish(f"case.{topic}", aggregate=case, payload={
        "number": case.number, "status": case.status, "category_id": case.category_id,
        "department_id": case.department_id, "region_code": case.region_code, **payload,
    })


def read_photos(items, default_kind: str, names=None) -> list[tuple[str, photo_mod.Photo]]:
    """Check every photo of a request by content before any transaction starts.

    `items` holds bytes, files, already read `Photo`s or `(kind, any of those)` pairs; `names`, the names the
    photos were chosen under when `items` holds their bytes (a refusal names the file, `naming`).
    """
    items = list(items or ())
    if len(items) > conf.max_photos_per_request():
        raise ValidationFailed(f"一次最多上传 {conf.max_photos_per_request()} 张照片 / too many photos",
                               field="photos")
    names = list(names or ())
    result = []
    for i, item in enumerate(items):
        kind, source = item if isinstance(item, tuple) else (default_kind, item)
        if kind not in photo_mod.KINDS:
            shown = quotable(kind, 16)
            raise ValidationFailed(f"照片类型无效：「{shown}」 / unknown photo kind \"{shown}\"", field="photos")
        if isinstance(source, photo_mod.Photo):
            result.append((kind, source))
            continue
        with naming(names[i] if i < len(names) else source):
            result.append((kind, photo_mod.read_photo(source)))
    return result


def file_name(source) -> str:
    """The name a photo was chosen under (an upload's), for messages: its last part, short; "" for bytes."""
    name = source if isinstance(source, str) else getattr(source, "name", "") or ""
    name = os.path.basename(str(name).replace("\\", "/")).replace(" / ", " ").strip()
    return name if len(name) <= 60 else f"{name[:28]}…{name[-28:]}"


@contextmanager
def naming(source):
    """A photo refused while read (not an image, too large, empty) is named in the message, with what to do
    about it: a phone sends several at once and the person must know which one to remove or replace."""
    try:
        yield
    except ValidationFailed as exc:
        name = file_name(source)
        if not name:
            raise
        zh, _, en = exc.message.partition(" / ")
        raise ValidationFailed(f"照片「{name}」：{zh}，请删除或更换这张照片 / photo \"{name}\": {en or zh}; remove or "
                               f"replace it", field=exc.field or "photos") from None


def attach_all(case: Case, photos, *, step=None, actor=None) -> list:
    return [photo_mod.attach(case=case, photo=p, kind=kind, step=step, uploaded_by=actor) for kind, p in photos]
