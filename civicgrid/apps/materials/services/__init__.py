"""The write path of the materials app: one service per use case (see each module)."""

from .alerts import notify_expiring
from .catalogue import delete_target, save_item, save_warehouse, set_target
from .counts import cancel_count, confirm_count, enter_counts, start_count
from .ledger import export_ledger, import_stock
from .stock import change_condition, draw, issue_to_incident, receive, record_movement, transfer

__all__ = [
    "cancel_count", "change_condition", "confirm_count", "delete_target", "draw", "enter_counts", "export_ledger",
    "import_stock", "issue_to_incident", "notify_expiring", "receive", "record_movement", "save_item",
    "save_warehouse", "set_target", "start_count", "transfer",
]
