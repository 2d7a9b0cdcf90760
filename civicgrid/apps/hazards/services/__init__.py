"""The hazard services: every write to a hazard goes through one of these."""

from .campaigns import (
           campaign_progress,
           close_campaign,
           fill_inspection,
           items_for,
           open_campaign,
           open_revisit,
)
from .loop import act, allowed_actions, current_plan, mark_overdue, missing_assurances, save_plan
from .register import patron_for, register_hazard, reveal_owner_phone

__all__ = ["campaign_progress", "close_campaign", "fill_inspection", "items_for", "open_campaign", "open_revisit",
           "act", "allowed_actions", "current_plan", "mark_overdue", "missing_assurances", "patron_for",
           "register_hazard", "reveal_owner_phone", "save_plan"]
