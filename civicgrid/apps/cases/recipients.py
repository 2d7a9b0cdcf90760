"""Who is told about a case: the people responsible for its next step, and everyone who reported it.

Staff are found through their active grants (a department's handlers; dispatchers, grid workers and leaders
whose region covers the case's grid), so nobody is told about a case outside their scope. Reporters are told
through the inbox when they have an account and through the configured SMS/email sender when they left a
contact (the sender decrypts the address only when it sends).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core import keys
from civicgrid.foundation.notify import services as notify
from civicgrid.foundation.notify import titles

from .models import Case, CaseReporter, Status

MOBILE = re.compile(r"1[3-9]\d{9}")  # a stored (normalised) mobile number: the only kind an SMS reaches
PHONE_CONTEXT = "cases.reporter.phone"
EMAIL_CONTEXT = "cases.reporter.email"
DISPATCH_ROLES = (Role.COMMAND_DISPATCHER, Role.STREET_DISPATCHER)
# What staff inbox titles say before "：<case number>" (stored in Chinese; the inbox shows the reader's language).
INBOX_TITLES = titles.register(
    gettext_noop("新任务"), gettext_noop("核实任务"), gettext_noop("核查任务"), gettext_noop("待结案"),
    gettext_noop("延期申请"), gettext_noop("延期申请同意"), gettext_noop("延期申请不同意"), gettext_noop("督办"),
    gettext_noop("返工"), gettext_noop("退回"), gettext_noop("重新办理"), gettext_noop("核实属实"),
    gettext_noop("核实不属实"), gettext_noop("案卷进展"),  # 案卷进展: a reporter's message (the status is in its body)
    gettext_noop("受理即将超期"), gettext_noop("核实即将超期"), gettext_noop("派遣即将超期"), gettext_noop("处置即将超期"),
    gettext_noop("核查即将超期"), gettext_noop("结案即将超期"),
    gettext_noop("受理已超期"), gettext_noop("核实已超期"), gettext_noop("派遣已超期"), gettext_noop("处置已超期"),
    gettext_noop("核查已超期"), gettext_noop("结案已超期"),
    gettext_noop("超期自动督办（受理）"), gettext_noop("超期自动督办（核实）"), gettext_noop("超期自动督办（派遣）"),
    gettext_noop("超期自动督办（处置）"), gettext_noop("超期自动督办（核查）"), gettext_noop("超期自动督办（结案）"),
)
APPROVER_ROLES = (Role.COMMAND_DISPATCHER, Role.LEADER)
# The English of what reporters are told (`tell_reporters(text=...)`, the transitions' `ctx.tell`): the inbox shows
# it to a reporter reading in English; SMS and email go out in the district's language.
TELLS_EN = {
    "已收到": "has been received",
    "已自行处置并结案": "was handled on the spot and closed",
    "已立案": "has been accepted",
    "不予受理": "was not accepted",
    "已作废": "was voided",
    "已派遣至处置部门": "has been sent to the department that handles it",
    "已处置完毕，待现场核查": "has been handled and awaits an on-site check",
    "已办结，欢迎评价": "is closed; you are welcome to rate how it was handled",
    "已挂账（暂缓办理）": "is on hold (handling suspended for now)",
    "已恢复办理": "is being handled again",
    "已重新办理": "has been reopened",
}


def _covering(code: str) -> list[str]:
    """The code itself and every ancestor code (a grant on any of them covers the grid)."""
    return [code[:n] for n in (6, 9, 12, 15) if n <= len(code)]


def _users(grants) -> list[User]:
    return list(User.objects.filter(is_active=True, grants__in=grants).distinct().order_by("pk"))


def department_handlers(department_id: int | None) -> list[User]:
    """The handlers of a department (new tasks, rework, supervision, reopening)."""
    if not department_id:
        return []
    return _users(Grant.objects.active().filter(role=Role.DEPARTMENT_HANDLER, department_id=department_id))


def staffed_departments() -> set[int]:
    """The departments with at least one active handler: the ones a case can be sent to. One query."""
    return set(Grant.objects.active().filter(role=Role.DEPARTMENT_HANDLER, department_id__isnull=False,
                                             user__is_active=True)
               .values_list("department_id", flat=True).distinct())


def region_staff(region_code: str, roles) -> list[User]:
    """Holders of `roles` whose region grant covers `region_code`."""
    return _users(Grant.objects.active().filter(role__in=list(roles), region__code__in=_covering(region_code)))


def dispatchers(case: Case) -> list[User]:
    return region_staff(case.region_code, DISPATCH_ROLES)


def grid_workers(case: Case) -> list[User]:
    return region_staff(case.region_code, (Role.GRID_WORKER,))


def approvers(case: Case) -> list[User]:
    return region_staff(case.region_code, APPROVER_ROLES)


def responsible_for(case: Case, clock_kind: str) -> list[User]:
    """Who answers for a step clock: handlers for handling, grid workers for 核实/核查, dispatchers otherwise."""
    if clock_kind == "case.handle":
        return department_handlers(case.department_id) or dispatchers(case)
    if clock_kind in ("case.check", "case.verify"):
        return grid_workers(case)
    return dispatchers(case)


def tell_staff(users, case: Case, kind: str, title: str, body: str = "", dedupe: str | None = None,
               body_en: str = "") -> int:
    """Inbox message about a case to each of `users` (`body_en`: the English of a body the system wrote)."""
    return notify.notify_many(users, kind, f"{title}：{case.number}", body or case.title, target=case,
                              dedupe_prefix=dedupe, body_en=body_en if body else "")


def settle_staff(case: Case, kind: str, resolution: str) -> int:
    """Close every recipient's `kind` messages about `case`: the work they asked for is done (`resolution`:
    what became of it, marked for translation)."""
    return notify.resolve(case, kind, resolution)


def follow_url(token: str) -> str:
    """The reporter's follow page (a page for people: status, rating, reopening), not the JSON endpoint behind it;
    absolute when `CIVICGRID_PUBLIC_BASE_URL` is set, as SMS and email need."""
    base = getattr(settings, "CIVICGRID_PUBLIC_BASE_URL", "").rstrip("/")
    return f"{base}{reverse('ui:follow', args=[token])}"


def tell_reporters(case: Case, text: str, *, with_link: bool = False, except_user=None,
                   reporter_ids=None, text_en: str = "") -> int:
    """Tell every reporter of `case` (its own and those of duplicates merged into it; with `reporter_ids`, only
    those) what happened, once per person: someone who reported the same problem twice (now merged) gets one
    message per address. The account that caused the change (`except_user`) is not told in its own inbox. SMS
    go to mobile numbers only (a landline callback number is called back, not texted). The inbox message also
    carries its English (`text_en`, else `TELLS_EN[text]`) for a reporter reading in English."""
    told = 0
    with translation.override(settings.LANGUAGE_CODE):  # messages are written in the district's language
        label = str(dict(Status.choices).get(case.status, case.status))
    with translation.override("en"):
        label_en = str(dict(Status.choices).get(case.status, case.status))
    text_en = text_en or TELLS_EN.get(text, "")
    skip = getattr(except_user, "pk", None)
    users, addresses = set(), set()
    reporters = CaseReporter.objects.filter(case=case).select_related("user").order_by("pk")
    if reporter_ids is not None:
        reporters = reporters.filter(pk__in=list(reporter_ids))
    for reporter in reporters:
        body = f"您反映的问题（案卷号 {case.number}）{text}。当前状态：{label}。"
        body_en = f"Your report (case {case.number}) {text_en}. Current status: {label_en}." if text_en else ""
        if with_link:
            link = follow_url(reporter.follow_token)
            body += f" 查询与评价：{link}"
            body_en += f" Follow and rate it: {link}" if body_en else ""
        if (reporter.user_id and reporter.user.is_active and reporter.user_id != skip
                and reporter.user_id not in users):
            users.add(reporter.user_id)
            told += notify.notify(reporter.user, "status", f"案卷进展：{case.number}", body, target=case,
                                  body_en=body_en) is not None
        if reporter.contact_enc:
            phone = keys.decrypt(reporter.contact_enc, PHONE_CONTEXT)
            if MOBILE.fullmatch(phone) and ("sms", phone) not in addresses:
                addresses.add(("sms", phone))
                notify.queue_message(channel="sms", to=phone, body=body)
                told += 1
        if reporter.email_enc:
            email = keys.decrypt(reporter.email_enc, EMAIL_CONTEXT)
            if ("email", email.lower()) not in addresses:
                addresses.add(("email", email.lower()))
                notify.queue_message(channel="email", to=email, subject=f"案卷 {case.number} {label}", body=body)
                told += 1
    return told
