"""The case loop's write path. Every entry point (pages, API, Open311, importers, commands, tests) calls these:

    submit_case(*, actor, title, …) -> (Case, created)      上报 (services/intake.py)
    check_report(*, actor, title, …) -> ReportSpec           a queued channel's report, checked and located
    submit_cases(specs, *, actor, also) -> [Case | error]    a batch of queued reports made into cases
    act(*, actor, case, action, idempotency_key, expected_step, **inputs) -> Case
                                                             every transition of CASE_WORKFLOW (services/transitions.py)
    replayed_case(*, actor, number, action, idempotency_key, inputs, photos)
                                                             the case a keyed step already moved out of scope
    rate(*, follow_token, score, comment, actor) -> CaseReporter   满意度 by link/QR (services/follow.py)
    reopen_by_token(*, follow_token, reason, actor) -> Case        重新办理 by link/QR (never by staff signed in)
    follow_status(token, viewer) -> dict                           public status, no personal data
    add_photos(*, actor, case, photos, kind) -> list         photos added to a case outside a transition
    comment(*, actor, case, text, reporter_token, channel)   留言 by a reporter or a public channel (Open311)
    reveal_contact(*, actor, case) -> dict                   回访: the reporter's contact in clear, audited
    supervisions(case) -> [dict]                             the leaders' 督办 a merge would carry (services/actions_intake.py)
    merge_preview(*, actor, case, parent) -> MergePreview    what a merge would join, and whether it takes a reason
    reveal_text(*, actor, case) -> dict                      title, description and masked notes in clear, audited
"""

from .actions_intake import MergePreview, merge_preview, supervisions
from .comments import comment
from .contacts import may_reveal_contact, reveal_contact, reveal_text
from .follow import follow_status, rate, reopen_by_token
from .intake import (
           ReportSpec,
           check_report,
           prepare_cases,
           submit_case,
           submit_cases,
           write_cases,
           writer_turn,
)
from .photos import add_photos
from .transitions import act, register_actions, replayed_case

register_actions()

__all__ = ["MergePreview", "ReportSpec", "act", "add_photos", "check_report", "comment", "follow_status",
           "may_reveal_contact", "merge_preview", "prepare_cases", "rate", "reveal_contact", "reveal_text",
           "reopen_by_token", "replayed_case", "submit_case", "submit_cases", "supervisions", "write_cases",
           "writer_turn"]
