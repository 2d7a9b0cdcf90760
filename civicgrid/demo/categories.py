"""Demo stage: the category directories (GB/T 47678.5-2026 and the social-governance types) with their
default local rules, and the flood-season 包保 table as routing rules.

Runs after the organisations stage: the default departments and the 包保 departments are the demo's district
departments, found by their short names ("区城管局"). Idempotent: a second run changes nothing and says so.
"""

from __future__ import annotations

from civicgrid.apps.categories.loaders import load_all

from . import loader

# The loader prints stage names through this table; this stage brings its own label.
loader.STAGE_LABELS.setdefault("categories", "事件分类")
LABELS = {"gbt47678": "城市管理部件和事项", "social": "社会治理事件类型", "baobao": "汛期包保规则"}


def load_demo_categories() -> str:
    """Load (or complete) the categories and 包保 rules; returns what was done, for the demo summary."""
    results = load_all(actor=None)
    if not any(r.changed for r in results.values()):
        return "已存在，未改动"
    return "；".join(f"{LABELS[name]} {result}" for name, result in results.items() if result.changed)
