from django.apps import AppConfig


class RescueConfig(AppConfig):
    """Rescue teams (抢险队伍) and incidents (险情): call-outs, dispatched teams and materials, timeline, report."""

    name = "civicgrid.apps.rescue"
    label = "rescue"
    verbose_name = "抢险救援"

    def ready(self):
        from civicgrid.foundation.core import keys

        from . import handlers, workflow  # noqa: F401  (capabilities, transition table, SLA reaction)
        from .services import LEADER_PHONE_CONTEXT, MEMBER_PHONE_CONTEXT

        # rotate_keys re-encrypts the teams' contact phones with every other personal field.
        keys.register_encrypted_column("rescue.RescueTeam", "leader_phone_enc", LEADER_PHONE_CONTEXT)
        keys.register_encrypted_column("rescue.RescueMember", "phone_enc", MEMBER_PHONE_CONTEXT)
