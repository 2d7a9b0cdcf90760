"""A small district for the case loop: the builders' tree, two departments, a category class with two
subclasses, and one account per role the loop needs (grid worker, dispatchers, handlers, leader, resident)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

import pytest
from PIL import Image

from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep
from civicgrid.apps.categories.models import Category, CategoryKind, LimitMode, Taxonomy
from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification, OutgoingMessage
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.testing.builders import department, user_with

GRID = "140213050001001"
# Inside GRID (113.20–113.22, 40.00–40.02) and inside the neighbouring grid of the same community.
POINT = (113.2100, 40.0100)
NEIGHBOUR_POINT = (113.2300, 40.0100)
OTHER_STREET_POINT = (113.2900, 40.0100)  # grid 140213051001001
OUTSIDE = (112.0, 39.0)


@dataclass
class Loop:
    tree: dict
    dept: object
    other_dept: object
    cls: Category
    cat: Category
    sibling: Category
    other_cat: Category
    worker: object
    neighbour_worker: object
    dispatcher: object
    street_dispatcher: object
    other_street_dispatcher: object
    handler: object
    other_handler: object
    leader: object
    resident: object


@pytest.fixture
def loop(tree) -> Loop:
    dept = department("区城管局")
    other_dept = department("区住建局")
    tax = Taxonomy.objects.create(code="gb47678", name="GB/T 47678.5-2026")
    other_tax = Taxonomy.objects.create(code="social", name="社会治理")
    cls = Category.objects.create(taxonomy=tax, code="06", name="市容环境类", kind=CategoryKind.MATTER)
    cat = Category.objects.create(taxonomy=tax, code="06001", name="暴露垃圾", parent=cls, kind=CategoryKind.MATTER,
                                  time_limit_mode=LimitMode.WORKING_HOURS, time_limit_amount=Decimal("4"),
                                  default_department=dept)
    sibling = Category.objects.create(taxonomy=tax, code="06002", name="积存垃圾渣土", parent=cls,
                                      time_limit_mode=LimitMode.WORKING_DAYS, time_limit_amount=Decimal("1"))
    other_cls = Category.objects.create(taxonomy=other_tax, code="01", name="矛盾纠纷")
    other_cat = Category.objects.create(taxonomy=other_tax, code="01001", name="邻里纠纷", parent=other_cls)
    return Loop(
        tree=tree, dept=dept, other_dept=other_dept, cls=cls, cat=cat, sibling=sibling, other_cat=other_cat,
        worker=user_with(Role.GRID_WORKER, region=tree[GRID], username="wg"),
        neighbour_worker=user_with(Role.GRID_WORKER, region=tree["140213050001002"], username="wg2"),
        dispatcher=user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="cd"),
        street_dispatcher=user_with(Role.STREET_DISPATCHER, region=tree["140213050"], username="sd"),
        other_street_dispatcher=user_with(Role.STREET_DISPATCHER, region=tree["140213051"], username="sd2"),
        handler=user_with(Role.DEPARTMENT_HANDLER, department=dept, username="h1"),
        other_handler=user_with(Role.DEPARTMENT_HANDLER, department=other_dept, username="h2"),
        leader=user_with(Role.LEADER, region=tree["140213"], username="ld"),
        resident=user_with(Role.RESIDENT, region=tree[GRID], username="jm"),
    )


def auth(user) -> dict:
    """Bearer headers for a user (token issued directly: the token endpoint has its own tests)."""
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user, label='test')[1]}"}


def jpeg(gps: tuple[float, float] | None = None, size=(40, 30), fmt="JPEG", color=(200, 30, 30)) -> bytes:
    """A small image; with `gps` (lng, lat) written into EXIF as a phone camera does."""
    img = Image.new("RGBA" if fmt == "PNG" else "RGB", size, color)
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    if gps:
        lng, lat = gps

        def dms(v):
            d = int(v)
            m = int((v - d) * 60)
            return (float(d), float(m), round((v - d - m / 60) * 3600, 4))

        exif.get_ifd(0x8825).update({1: "N", 2: dms(lat), 3: "E", 4: dms(lng)})
    img.save(buf, fmt, exif=exif)
    return buf.getvalue()


def world_counts() -> dict:
    """Everything a refused request must leave untouched."""
    return {
        "cases": list(Case.objects.order_by("pk").values_list("pk", "status", "department_id", "rework_count",
                                                               "is_supervised", "is_major", "extension_pending",
                                                               "updated_at")),
        "steps": CaseStep.objects.count(),
        "reporters": list(CaseReporter.objects.order_by("pk").values_list("pk", "case_id", "rating")),
        "audit": AuditEntry.objects.filter(action__startswith="cases.").count(),
        "outbox": OutboxEvent.objects.count(),
        "clocks": list(SlaClock.objects.order_by("pk").values_list("pk", "state", "due_at")),
        "inbox": Notification.objects.count(),
        "outgoing": OutgoingMessage.objects.count(),
    }


def report(loop: Loop, actor=None, **kw):
    """A plain report in GRID by the grid worker (keyword arguments override)."""
    from civicgrid.apps.cases.services import submit_case

    args = dict(actor=actor or loop.worker, title="路边暴露垃圾", description="小区门口垃圾堆放", lng=POINT[0],
                lat=POINT[1], category=loop.cat.pk, source="grid_worker")
    args.update(kw)
    return submit_case(**args)[0]


def close_loop(loop: Loop, case):
    """Take `case` through the rest of the loop to 结案, from wherever it is (each step its role takes, if the
    case's state allows it)."""
    from civicgrid.apps.cases.services import act
    from civicgrid.apps.cases.workflow import CASE_WORKFLOW

    for actor, action, inputs in ((loop.dispatcher, "accept", {}),
                                  (loop.dispatcher, "dispatch", {"department": loop.dept.pk}),
                                  (loop.handler, "report_back", {"note": "已清理"}),
                                  (loop.worker, "verify", {"photos": [jpeg()]}), (loop.dispatcher, "close", {})):
        if action in {t.name for t in CASE_WORKFLOW.allowed(case, actor)}:
            case = act(actor=actor, case=case, action=action, **inputs)
    return case
