"""civicgrid open311_client add|list|deactivate|reactivate|rotate|queue|retry|dismiss: manage the applications allowed to post through Open311."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from civicgrid.foundation.core import context
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.models import Open311Client, QueuedRequest, QueueState


class Command(BaseCommand):
    help = ("Open311 客户端：add NAME（打印一次性显示的 api_key）、list、deactivate NAME、reactivate NAME、"
            "rotate NAME（换发密钥）、queue [--drain]、retry TOKEN…（未能立卷的上报重新排队）、"
            "dismiss TOKEN…（放弃无法立卷的上报）")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        add = sub.add_parser("add", help="create a client and print its api_key once")
        add.add_argument("name")
        add.add_argument("--jurisdiction", default="")
        add.add_argument("--rate", type=int, default=60, help="requests per minute")
        add.add_argument("--burst", type=int, default=20)
        add.add_argument("--queued", action="store_true",
                         help="answer reports with a token at once; the worker makes the cases in batches")
        sub.add_parser("list", help="clients with their key prefix and limits")
        off = sub.add_parser("deactivate", help="stop a client's key working")
        off.add_argument("name")
        on = sub.add_parser("reactivate", help="let a deactivated client's key work again")
        on.add_argument("name")
        rotate = sub.add_parser("rotate", help="give a client a new api_key (printed once); the old one stops")
        rotate.add_argument("name")
        queue = sub.add_parser("queue", help="queued clients' reports: how many wait, and the ones that failed")
        queue.add_argument("--drain", action="store_true", help="make the waiting reports into cases now")
        retry = sub.add_parser("retry", help="put failed queued reports (by token) back in the queue")
        retry.add_argument("tokens", nargs="+")
        dismiss = sub.add_parser("dismiss", help="give up on failed queued reports (by token) that can never be made")
        dismiss.add_argument("tokens", nargs="+")

    def handle(self, *args, verb, **options):
        with context.acting(channel="command"):
            try:
                if verb == "add":
                    client, key = services.create_client(
                        actor=None, name=options["name"], jurisdiction=options["jurisdiction"],
                        rate_per_minute=options["rate"], burst=options["burst"], queued=options["queued"],
                    )
                    self.stdout.write(f"{client.name}: api_key={key}  (只显示这一次 / shown once)")
                elif verb == "list":
                    for c in Open311Client.objects.order_by("name"):
                        state = "active" if c.is_active else "inactive"
                        mode = "queued" if c.queued else "direct"
                        self.stdout.write(f"{c.name}\t{c.key_prefix}…\t{state}\t{mode}\t{c.rate_per_minute}/min "
                                          f"burst {c.burst}\t{c.jurisdiction or '*'}")
                elif verb == "queue":
                    self.queue(drain=options["drain"])
                elif verb == "retry":
                    self.stdout.write(f"重新排队 / back in the queue: "
                                      f"{services.retry_queued(actor=None, tokens=options['tokens'])}")
                elif verb == "dismiss":
                    self.stdout.write(f"已放弃 / dismissed: "
                                      f"{services.dismiss_queued(actor=None, tokens=options['tokens'])}")
                else:
                    client = Open311Client.objects.filter(name=options["name"]).first()
                    if client is None:
                        raise CommandError(f"no client named {options['name']!r}")
                    if verb == "rotate":
                        client, key = services.rotate_key(actor=None, client=client)
                        self.stdout.write(f"{client.name}: api_key={key}  (只显示这一次 / shown once)")
                    else:
                        active = verb == "reactivate"
                        services.set_client_active(actor=None, client=client, active=active)
                        self.stdout.write(f"{client.name}: {'reactivated' if active else 'deactivated'}")
            except CivicgridError as exc:
                raise CommandError(exc.message) from None

    def queue(self, *, drain: bool) -> None:
        if drain:
            self.stdout.write(f"立卷 / made: {services.drain()}")
        counts = dict(QueuedRequest.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
        self.stdout.write("\t".join(f"{state.label} {state.value}: {counts.get(state.value, 0)}" for state in QueueState))
        for row in QueuedRequest.objects.filter(state=QueueState.FAILED).select_related("client").order_by("-id")[:20]:
            self.stdout.write(f"{row.token}\t{row.client.name}\t{row.received_at:%Y-%m-%d %H:%M}\t{row.error}")
