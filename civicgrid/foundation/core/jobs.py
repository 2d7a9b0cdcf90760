"""What the worker runs each pass besides its own work, registered by the layers above without the worker
importing them (the layer rule): ``register(name, func)`` in an app's ``ready()``; ``func()`` returns how much
it did (a count, for the worker's log line). The Open311 app registers its queued-report drain here, the
notify app its retry of outgoing email and SMS, and the cases app the purge of built ledgers past their hours."""

from __future__ import annotations

from collections.abc import Callable

Job = Callable[[], int]

_jobs: dict[str, Job] = {}


def register(name: str, func: Job) -> Job:
    """Run ``func`` on every worker pass (a later registration under the same name replaces it)."""
    _jobs[name] = func
    return func


def registered() -> dict[str, Job]:
    """The registered jobs by name, in registration order."""
    return dict(_jobs)
