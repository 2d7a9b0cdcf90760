"""The hazard services: every write to a hazard goes through one of these."""

from .campaigns import (
    campaign_progress,
    close_campaign,
    fill_inspection,
    items_for,
    open_campaign,
    open_revisit,
    register_finding,
    with_inspection_counts,
)
from .loop import (
    Offers,
    act,
    allowed_actions,
    current_plan,
    mark_overdue,
    missing_assurances,
    offers,
    save_plan,
)
from .register import patron_for, register_hazard, reveal_owner_phone

__all__ = ["Offers", "act", "allowed_actions", "campaign_progress", "close_campaign", "current_plan",
           "fill_inspection", "items_for", "mark_overdue", "missing_assurances", "offers", "open_campaign",
           "open_revisit", "patron_for", "register_finding", "register_hazard", "reveal_owner_phone", "save_plan",
           "with_inspection_counts"]
