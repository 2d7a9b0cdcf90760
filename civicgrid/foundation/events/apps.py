from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Domain events: a transactional outbox, a handler registry and the dispatcher the worker runs."""

    name = "civicgrid.foundation.events"
    label = "events"
    verbose_name = "领域事件"
