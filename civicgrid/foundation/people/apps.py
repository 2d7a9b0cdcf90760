from django.apps import AppConfig


class PeopleConfig(AppConfig):
    """一标三实: buildings, houses, households, residents, units, places."""

    name = "civicgrid.foundation.people"
    label = "people"
    verbose_name = "人房单位"
