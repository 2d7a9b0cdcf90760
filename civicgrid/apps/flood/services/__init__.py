"""Flood-control services: the one write path for readings, signals, the response, tasks and configuration."""

from .config import add_roster, save_response_rule, save_station, save_template, save_threshold, set_season
from .imports import import_rainfall
from .readings import record_rainfall, record_water_level
from .response import change_level, lift_response
from .tasks import acknowledge, complete

__all__ = [
    "acknowledge", "add_roster", "change_level", "complete", "import_rainfall", "lift_response", "record_rainfall",
    "record_water_level", "save_response_rule", "save_station", "save_template", "save_threshold", "set_season",
]
