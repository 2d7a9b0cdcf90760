"""The hazard services: every write to a hazard goes through one of these."""

from .loop import act, allowed_actions, current_plan, mark_overdue, missing_assurances, save_plan
from .register import patron_for, register_hazard, reveal_owner_phone

__all__ = ["act", "allowed_actions", "current_plan", "mark_overdue", "missing_assurances", "patron_for",
           "register_hazard", "reveal_owner_phone", "save_plan"]
