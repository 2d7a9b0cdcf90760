from django.apps import AppConfig


class Open311Config(AppConfig):
    """Open311 GeoReport v2 (with FixMyStreet's servicerequestupdates extension) under /open311/v2/."""

    name = "civicgrid.integrations.open311"
    label = "open311"
    verbose_name = "Open311 开放接口"

    def ready(self):
        from civicgrid.foundation.core import jobs, keys

        from . import models, services

        jobs.register("open311.drain", services.run_drain)  # queued clients' reports become cases

        # rotate_keys re-encrypts what Open311 callers told us about themselves with every other personal field.
        for model, field, context in models.ENCRYPTED_COLUMNS:
            keys.register_encrypted_column(model, field, context)
        register_retention()
        register_media()


def register_media() -> None:
    """The links a client sent with a report or an update, for staff (`cases.media`: shown as links, never
    fetched)."""
    from civicgrid.apps.cases import media

    from .models import Open311Request, Open311Update

    def sent(case):
        report = Open311Request.objects.filter(case=case).values_list("media_urls", flat=True).first() or []
        steps: dict[int, list[str]] = {}
        for step_id, url in (Open311Update.objects.filter(case=case, step__isnull=False).exclude(media_url="")
                             .values_list("step_id", "media_url")):
            steps.setdefault(step_id, []).append(url)
        return list(report), steps

    media.register(sent)


def register_retention() -> None:
    """What callers told about their reporters goes with the case's reporter data (cases.apps)."""
    from django.db.models import Q

    from civicgrid.apps.cases.apps import reporter_floor
    from civicgrid.apps.cases.models import finished_before
    from civicgrid.foundation.core import retention

    def case_ended(cutoff):
        return finished_before(cutoff, "case__")

    for key, label, model, expired, cleared in (
        ("open311.request", "Open311 上报的设备号、账号和代为重开的凭据（结案等之后起算）", "open311.Open311Request",
         case_ended, {"device_id_enc": "", "account_id_enc": "", "follow_token_enc": ""}),
        ("open311.update", "Open311 评论人的姓名和联系方式（结案等之后起算）", "open311.Open311Update",
         case_ended, {"name_enc": "", "email_enc": "", "phone_enc": ""}),
        ("open311.queue", "Open311 排队上报的联系方式、设备号和账号（收到后起算，待立卷的除外）", "open311.QueuedRequest",
         lambda cutoff: Q(received_at__lt=cutoff) & ~Q(state="pending"),
         {"contacts_enc": "", "device_id_enc": "", "account_id_enc": ""}),
    ):
        retention.register(retention.DataSet(
            key=key, label=label, model=model, setting="CIVICGRID_RETAIN_REPORTER_DAYS", default_days=730,
            expired=expired, cleared=cleared, floor=reporter_floor))
