"""Pieces every case service uses: the step record, audit, event, and the checks of scope and inputs."""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, models
from django.utils import timezone, translation

from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.audit.service import actor_label, snapshot, user_or_none  # noqa: F401  (used by the services)
from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.events import bus as events

from .. import conf
from .. import photos as photo_mod
from ..models import Case, CaseStep
from ..workflow import CASE_WORKFLOW, EXTRA_STEP_LABELS


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
             data: dict | None = None, department=None, note_en: str = "", idempotency_key: str | None = None,
             idempotency_digest: str | None = None) -> CaseStep:
    """One entry of the case's timeline (`note_en`: the English of a note the system wrote; `idempotency_key`:
    the hashed one-time key of the form or request that asked for it, `step_key`, and `idempotency_digest` what
    it carried, `step_digest`)."""
    return CaseStep.record_step(case=case, action=action, actor=actor, at=at, from_status=from_status,
                                to_status=to_status, note=note, data=data, department=department, note_en=note_en,
                                idempotency_key=idempotency_key,
                                idempotency_digest=idempotency_digest if idempotency_key else None)


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


def _plain(value):
    """An input as its digest reads it: what two sendings of the same form or body hold alike compares alike."""
    if isinstance(value, bool):
        return value
    if isinstance(value, models.Model):
        value = value.pk
    if isinstance(value, int):
        return str(value)  # a form's "12" and a JSON body's 12 name the same department
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        # a textarea sends CRLF, a client LF; the step keeps the text stripped (`transitions.run`)
        return value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _empty(value) -> bool:
    if isinstance(value, str):
        return not _plain(value)
    return value is None or value is False or (isinstance(value, list | tuple | dict) and not value)


def step_digest(action: str, inputs: dict, photos=()) -> str:
    """What a keyed step was asked with, as it is kept beside its key (`CaseStep.idempotency_digest`): a sending
    again under the same key must carry the same. Two parts, "inputs[:photos]": the sha256 of the action's
    inputs as the step reads them (text stripped, line ends alike, empty inputs left out: a form and a resend of
    it that differ only there ask the same), then, when photos came, the sha256 of their contents as checked
    (`read_photos`: the same picture re-encodes the same), in any order. See `digest_matches` for why the
    photos are a part apart."""
    body = {"action": action, **{k: _plain(v) for k, v in inputs.items() if not _empty(v)}}
    text = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    hashes = sorted(p.sha256 if hasattr(p, "sha256") else hashlib.sha256(p).hexdigest()
                    for p in (item[1] if isinstance(item, tuple) else item for item in photos or ()))
    if not hashes:
        return text
    return f"{text}:{hashlib.sha256(' '.join(hashes).encode()).hexdigest()}"


def digest_matches(kept: str | None, sent: str | None) -> bool:
    """Whether a sending again (`sent`) asks what the first did (`kept`). The inputs must be the same. Photos
    sent again must be the same photos; none sent again is the same request: a phone's browser that restores a
    form after a reload (or a crash) gives its text back, never the files chosen in it, and the step has the
    photos of the first sending. A step keyed before digests were kept (`kept` empty) is answered as before."""
    if not kept or not sent:
        return True
    kept_inputs, _, kept_photos = kept.partition(":")
    sent_inputs, _, sent_photos = sent.partition(":")
    return kept_inputs == sent_inputs and (not sent_photos or sent_photos == kept_photos)


class KeyReused(Conflict):
    """A one-time key sent again with other content than its first sending's (409): the first was taken, this
    one's content is not, and the sender must know (answering the first sending's result would drop it)."""


def step_label(action: str) -> str:
    """The Chinese name of a step, as the timeline shows it."""
    found = next((t for t in CASE_WORKFLOW.transitions if t.name == action), None)
    return found.label if found is not None else EXTRA_STEP_LABELS.get(action, action)


def replayed_step(key: str | None, case: Case | None, action: str, digest: str | None = None) -> CaseStep | None:
    """The step an earlier sending of the same key made (a form or request sent again after its answer was
    lost), or None. The same key for another case or another action is refused (409): a key names one step;
    so is the same key with other content (`digest`, `step_digest`: `KeyReused`, 409), which the step never
    had."""
    if not key:
        return None
    step = CaseStep.objects.filter(idempotency_key=key).first()
    if step is None:
        return None
    if (case is not None and step.case_id != case.pk) or step.action != action:
        raise Conflict("此提交编号已用于另一项操作，请刷新页面后重试 / the idempotency key was already used for another "
                       "action", field="idempotency_key")
    ensure_same_content(step, digest)
    return step


def ensure_same_content(step: CaseStep, digest: str | None) -> None:
    """`KeyReused` (409) when `digest` is not what `step`'s first sending carried (`digest_matches`)."""
    if digest_matches(step.idempotency_digest, digest):
        return
    when = f"{timezone.localtime(step.at):%Y-%m-%d %H:%M}"
    raise KeyReused(f"此提交已于 {when} 执行过「{step_label(step.action)}」，本次内容与当时不同，未保存；请刷新页面，查看案卷"
                    f"现状后重新操作 / this idempotency key was already used at {when} for {step.action} with different "
                    f"content: that first request was taken, this one was not saved; reload the case and act again "
                    f"(with a new key)", field="idempotency_key")


def last_step_id(case: Case) -> int:
    """The case's version as a page or client saw it: the id of its latest timeline step, 0 before any (every
    change anyone makes to a case writes one). Read from the steps already fetched when there are."""
    fetched = getattr(case, "_prefetched_objects_cache", {}).get("steps")
    if fetched is not None:
        return max((s.pk for s in fetched), default=0)
    return CaseStep.objects.filter(case_id=case.pk).order_by("-pk").values_list("pk", flat=True).first() or 0


def _named(step: CaseStep, language: str) -> tuple[str, str]:
    with translation.override(language):
        return quotable(step.actor_for_staff, 32), str(step_label(step.action))


def ensure_current(case: Case, expected_step) -> None:
    """Optimistic concurrency: refuse (409) an action asked from a page or a client that saw the case at an
    older version (`expected_step`: `last_step_id` as it was then) than it is now, saying what happened since,
    so that nobody acts on a case someone else has just moved without knowing it. None or empty: not checked
    (the API's clients need not send it). Call under the case's lock."""
    if expected_step is None or (isinstance(expected_step, str) and not expected_step.strip()):
        return
    try:
        if isinstance(expected_step, bool | float):
            raise ValueError
        expected = int(str(expected_step).strip())
    except ValueError:
        raise ValidationFailed("页面版本无效，请刷新页面后重新操作 / expected_step must be the id of the case's last step "
                               "(last_step)", field="expected_step") from None
    last = CaseStep.objects.filter(case_id=case.pk).order_by("-pk").first()
    if last is None or last.pk == expected:
        return
    when = f"{timezone.localtime(last.at):%Y-%m-%d %H:%M}"
    zh_who, zh_label = _named(last, settings.LANGUAGE_CODE)
    en_who, _ = _named(last, "en")
    raise Conflict(f"案卷已被他人更新（{when} {zh_who}「{zh_label}」），请刷新页面后重新操作 / the case has been updated "
                   f"by someone else ({last.action} by \"{en_who}\" at {when}); reload the page and act again",
                   field="expected_step")


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
