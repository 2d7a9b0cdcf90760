"""Who is acting, from where, under which request id: set once per request, read by audit and events."""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActionContext:
    """What audit needs to know about the current action besides the actor."""

    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    source_ip: str = ""
    channel: str = "system"  # web | api | open311 | command | worker | system
    user_agent: str = ""  # the caller's browser or client, as it names itself (kept on work done later, e.g. imports)


_current: contextvars.ContextVar[ActionContext | None] = contextvars.ContextVar("civicgrid_action", default=None)


def current() -> ActionContext:
    """The context of the running request or command; a fresh system context outside of one."""
    ctx = _current.get()
    if ctx is None:
        ctx = ActionContext()
        _current.set(ctx)
    return ctx


@contextlib.contextmanager
def acting(*, channel: str, source_ip: str = "", request_id: str | None = None, user_agent: str = ""):
    """Run a block as one action (a request, a command, a worker job)."""
    token = _current.set(ActionContext(request_id=request_id or uuid.uuid4().hex, source_ip=source_ip, channel=channel,
                                       user_agent=user_agent))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
