"""Scope contract hooks for the inbox: a user sees exactly their own messages."""

from civicgrid.testing.contract import PLACEMENT_GRIDS, Placement, register_factory, register_scope

from .models import Notification


def _visible(user):
    return Notification.objects.filter(user_id=user.pk)


def _factory(placement: Placement):
    # Address each placement's message to a different persona (personas exist before objects are built), so
    # some users see one message and everybody else sees none of them.
    from civicgrid.foundation.access.models import User

    users = list(User.objects.filter(username__startswith="contract-").exclude(username="contract-owner")
                 .order_by("username").values_list("pk", flat=True))
    index = 5 * PLACEMENT_GRIDS.index(placement.grid.code)
    return Notification.objects.create(user_id=users[index % len(users)], kind="contract",
                                       title=placement.mark(), body=placement.mark())


register_scope("notify.Notification", _visible)
register_factory("notify.Notification", _factory)
