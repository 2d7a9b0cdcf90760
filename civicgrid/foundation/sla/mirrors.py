"""Copies of a clock's deadline kept on another app's rows, kept true when the foundation moves deadlines itself.

An app may keep a clock's deadline on its own row so that its lists, exports and counts read one column (a
case's 处置期限 ``Case.deadline`` is the handling clock's ``due_at``). Its services set that copy whenever they
start, resume or extend the clock. The one change no app's service makes is the foundation's own: after the
working calendar changes, ``sweep.reschedule_open_clocks`` moves the deadlines of open clocks. So an app that
keeps such a copy registers here, in its ``ready()``, a function for its target type (the layer rule: the
foundation imports no app). The reschedule calls it inside the transaction of each batch of clocks, with what
moved, and the app brings its rows in step in that transaction: set-based, one UPDATE for the batch (a calendar
change may move the deadlines of every open case), never a write per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Moved:
    """One open clock whose deadline (or warning instant) the reschedule moved."""

    target_id: str
    kind: str
    due_at: datetime | None  # the new deadline
    due_changed: bool  # False when only the warning instant moved
    # The new deadline lies at or before the sweep's watermark: its sla.breached is published now.
    breached: bool


Follower = Callable[[list[Moved]], None]

_followers: dict[str, Follower] = {}


def follow(target_type: str, func: Follower) -> Follower:
    """Call ``func`` with the clocks of ``target_type`` (``"cases.case"``) whose deadlines a calendar change moved,
    a batch at a time, inside the batch's transaction (a later registration for the same type replaces it)."""
    _followers[target_type] = func
    return func


def followers() -> dict[str, Follower]:
    """The registered functions by target type."""
    return dict(_followers)


def tell(moved: Iterable[tuple[str, Moved]]) -> None:
    """Hand each registered target type its ``(target_type, Moved)`` pairs of one batch, one call per type."""
    by_type: dict[str, list[Moved]] = {}
    for target_type, m in moved:
        if target_type in _followers:
            by_type.setdefault(target_type, []).append(m)
    for target_type, batch in by_type.items():
        _followers[target_type](batch)
