"""A small district for Open311: the builders' tree, a department with a routing default, a public class with
two public subclasses (one asking 是否影响通行), a category closed to the public, a staff dispatcher, and an
Open311 client with a known key."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.core.cache import cache
from django.test import Client

from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep
from civicgrid.apps.categories.models import Category, CategoryKind, LimitMode, Taxonomy
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import OutgoingMessage
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.models import Datatype, Open311Request, Open311Update, ServiceAttribute
from civicgrid.testing.builders import department, user_with

GRID = "140213050001001"
POINT = (113.2100, 40.0100)  # inside GRID
OUTSIDE = (112.0, 39.0)
KEY = "test-open311-key-0123456789"
BASE = "/open311/v2"


@dataclass
class World:
    tree: dict
    dept: object
    cls: Category
    cat: Category
    plain: Category
    private: Category
    attr: ServiceAttribute
    client: object
    dispatcher: object
    worker: object
    handler: object

    def code(self, category: Category | None = None) -> str:
        return (category or self.cat).key


@pytest.fixture(autouse=True)
def _fresh_buckets():
    """Rate-limit buckets and cached clients live in the process cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def o311(tree) -> World:
    dept = department("区城管局")
    tax = Taxonomy.objects.create(code="gb47678", name="GB/T 47678.5-2026")
    cls = Category.objects.create(taxonomy=tax, code="06", name="市容环境类", kind=CategoryKind.MATTER, is_public=True)
    cat = Category.objects.create(taxonomy=tax, code="06001", name="暴露垃圾", parent=cls, kind=CategoryKind.MATTER,
                                  time_limit_mode=LimitMode.WORKING_HOURS, time_limit_amount=Decimal("4"),
                                  default_department=dept, is_public=True, keywords="垃圾;暴露垃圾、堆放",
                                  acceptance_condition="公共区域垃圾裸露堆放。")
    plain = Category.objects.create(taxonomy=tax, code="06002", name="积存垃圾渣土", parent=cls,
                                    kind=CategoryKind.MATTER, is_public=True)
    social = Taxonomy.objects.create(code="social", name="社会治理")
    private_cls = Category.objects.create(taxonomy=social, code="05", name="特殊人群")
    private = Category.objects.create(taxonomy=social, code="0501", name="社区矫正", parent=private_cls)
    attr = ServiceAttribute.objects.create(
        category=cat, code="affects_traffic", datatype=Datatype.SINGLE, description="是否影响通行",
        values=[{"key": "yes", "name": "是"}, {"key": "no", "name": "否"}],
    )
    client, raw = services.create_client(actor=None, name="FixMyStreet 测试", raw_key=KEY, rate_per_minute=600,
                                         burst=100)
    assert raw == KEY
    return World(
        tree=tree, dept=dept, cls=cls, cat=cat, plain=plain, private=private, attr=attr, client=client,
        dispatcher=user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="cd"),
        worker=user_with(Role.GRID_WORKER, region=tree[GRID], username="wg"),
        handler=user_with(Role.DEPARTMENT_HANDLER, department=dept, username="cg"),
    )


@pytest.fixture
def admin_http(o311) -> Client:
    """The system administrator's browser on the Open311 management page."""
    c = Client()
    c.force_login(user_with(Role.SYSTEM_ADMIN, username="sysadmin"))
    return c


@pytest.fixture
def http() -> Client:
    return Client()


def form(o311: World, **overrides) -> dict:
    """A report as FixMyStreet posts it (form fields; api_key and jurisdiction_id in the body)."""
    data = {
        "api_key": KEY, "jurisdiction_id": "140213", "service_code": o311.code(), "lat": str(POINT[1]),
        "long": str(POINT[0]), "description": "title: 路边暴露垃圾\n\ndetail: 小区门口垃圾堆放\n\nurl: https://fms.example/r/1",
        "first_name": "三", "last_name": "张", "email": "zhang@example.com", "phone": "13812345678",
        "attribute[affects_traffic]": "yes", "media_url": "https://fms.example/photo/1.jpeg",
        "device_id": "device-42", "account_id": "account-7",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(http: Client, path: str, data: dict, **extra):
    return http.post(f"{BASE}/{path}", data, **extra)


def get(http: Client, path: str, **params):
    return http.get(f"{BASE}/{path}", params)


def xml(response) -> ElementTree.Element:
    assert response["Content-Type"].startswith("text/xml"), response["Content-Type"]
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ElementTree.fromstring(response.content)


def spec_error(response, status: int) -> str:
    """Assert the spec's error answer (JSON list or XML errors) with `status`; returns the description."""
    assert response.status_code == status, response.content.decode()
    if response["Content-Type"].startswith("application/json"):
        body = response.json()
        assert isinstance(body, list) and body[0]["code"] == status
        return body[0]["description"]
    root = xml(response)
    assert root.tag == "errors" and root.find("error/code").text == str(status)
    return root.find("error/description").text


def world_counts() -> dict:
    """Everything a refused request must leave untouched."""
    return {
        "cases": list(Case.objects.order_by("pk").values_list("pk", "status", "updated_at")),
        "steps": CaseStep.objects.count(),
        "reporters": CaseReporter.objects.count(),
        "audit": AuditEntry.objects.count(),
        "outbox": OutboxEvent.objects.count(),
        "clocks": list(SlaClock.objects.order_by("pk").values_list("pk", "state")),
        "outgoing": OutgoingMessage.objects.count(),
        "open311_requests": Open311Request.objects.count(),
        "open311_updates": Open311Update.objects.count(),
    }
