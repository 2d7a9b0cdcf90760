"""Organisations: services (audited, system administrators only) and the scoped API."""

from __future__ import annotations

import pytest

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.orgs import services
from civicgrid.foundation.orgs.models import Organisation, OrgKind, Post
from civicgrid.foundation.orgs.services import OrgSpec, PostSpec
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

SPECS = [
    OrgSpec("D-CG", "平城区城市管理局", OrgKind.DEPARTMENT, "140213", short_name="区城管局"),
    OrgSpec("S140213050", "平城区永泰街道办事处", OrgKind.STREET_OFFICE, "140213050"),
    OrgSpec("C140213050001", "永泰一社区居民委员会", OrgKind.COMMITTEE, "140213050001", parent_code="S140213050"),
    OrgSpec("S140213051", "平城区古城街道办事处", OrgKind.STREET_OFFICE, "140213051"),
    OrgSpec("C140213051001", "古城一社区居民委员会", OrgKind.COMMITTEE, "140213051001", parent_code="S140213051"),
]


@pytest.fixture
def orgs(tree):
    # Children listed before their parents on purpose: ensure_organisations orders them.
    services.ensure_organisations(actor=None, specs=list(reversed(SPECS)))
    return {o.code: o for o in Organisation.objects.all()}


def test_ensure_organisations_is_idempotent_and_audited_once(orgs):
    assert orgs["C140213050001"].parent == orgs["S140213050"]
    assert orgs["C140213050001"].region_code == "140213050001"
    assert services.ensure_organisations(actor=None, specs=SPECS) == []
    assert AuditEntry.objects.filter(action="data.imported", target_type="orgs.organisation").count() == 1
    with pytest.raises(ValidationFailed):
        services.ensure_organisations(actor=None, specs=[OrgSpec("X", "某机构", "bureau", "140213")])
    with pytest.raises(ValidationFailed):
        services.ensure_organisations(actor=None, specs=[OrgSpec("X", "某机构", OrgKind.OTHER, "140213099")])


def test_only_system_administrators_change_organisations(orgs, tree):
    street = user_with(Role.STREET_STAFF, region=tree["140213050"])
    with pytest.raises(PermissionDenied):
        services.create_organisation(actor=street, spec=OrgSpec("X1", "某物业", OrgKind.PROPERTY_COMPANY, "140213050"))
    admin = user_with(Role.SYSTEM_ADMIN)
    org = services.create_organisation(actor=admin, spec=OrgSpec("X1", "某物业", OrgKind.PROPERTY_COMPANY, "140213050"))
    post = services.add_post(actor=admin, organisation=org, title="项目经理", is_lead=True)
    assert AuditEntry.objects.filter(target_type="orgs.organisation", target_id=str(org.pk)).count() == 1
    assert AuditEntry.objects.filter(target_type="orgs.post", target_id=str(post.pk)).count() == 1
    with pytest.raises(ValidationFailed):
        services.create_organisation(actor=admin, spec=OrgSpec("X1", "重复", OrgKind.OTHER, "140213"))


def test_ensure_posts_links_accounts_once(orgs, tree):
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"], username="wg-test")
    specs = [PostSpec("C140213050001", "网格员（第1网格）", "wg-test"), PostSpec("C140213050001", "书记", is_lead=True)]
    assert services.ensure_posts(actor=None, specs=specs) == 2
    assert services.ensure_posts(actor=None, specs=specs) == 0
    assert Post.objects.get(user=worker).organisation.code == "C140213050001"


def test_api_lists_organisations_in_scope_with_filters(orgs, tree, api_client, token_for):
    headers = token_for(user_with(Role.STREET_STAFF, region=tree["140213050"]))
    body = api_client.get("/api/v1/organisations", **headers).json()
    # Their street's office and committee, and the district department above them; never the other street.
    assert sorted(i["code"] for i in body["items"]) == ["C140213050001", "D-CG", "S140213050"]
    assert body["total"] == 3
    only = api_client.get("/api/v1/organisations", {"kind": "committee"}, **headers).json()
    assert [i["code"] for i in only["items"]] == ["C140213050001"]
    assert only["items"][0]["kind_label"] == "社区/村委会" and only["items"][0]["region_name"] == "永泰社区1"
    sub = api_client.get("/api/v1/organisations", {"region": "140213050001"}, **headers).json()
    assert [i["code"] for i in sub["items"]] == ["C140213050001"]
    assert api_client.get("/api/v1/organisations", {"kind": "bureau"}, **headers).status_code == 422
    assert api_client.get("/api/v1/organisations", {"region": "x"}, **headers).status_code == 400


def test_api_detail_shows_posts_and_hides_other_scopes(orgs, tree, api_client, token_for):
    holder = user_with(Role.COMMUNITY_STAFF, region=tree["140213050001"], username="cs-1")
    holder.display_name = "李秀兰"
    holder.save()
    Post.objects.create(organisation=orgs["C140213050001"], title="社区工作人员", user=holder, phone="secret")
    headers = token_for(user_with(Role.STREET_STAFF, region=tree["140213050"]))
    resp = api_client.get(f"/api/v1/organisations/{orgs['C140213050001'].pk}", **headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["posts"] == [{"id": body["posts"][0]["id"], "title": "社区工作人员", "holder": "李秀兰", "is_lead": False}]
    assert "secret" not in resp.content.decode()
    assert api_client.get(f"/api/v1/organisations/{orgs['C140213051001'].pk}", **headers).status_code == 404
    assert api_client.get("/api/v1/organisations/99999999999999999999", **headers).status_code in (404, 422)


def test_department_handler_sees_their_department(orgs, api_client, token_for):
    headers = token_for(user_with(Role.DEPARTMENT_HANDLER, department=orgs["D-CG"]))
    body = api_client.get("/api/v1/organisations", **headers).json()
    assert [i["code"] for i in body["items"]] == ["D-CG"]


def test_odd_input_is_a_clear_answer(orgs, tree, api_client, token_for):
    headers = token_for(user_with(Role.LEADER, region=tree["140213"]))
    assert api_client.get("/api/v1/organisations", {"q": "\x00局"}, **headers).status_code == 200
    for pk in ("0", "-1"):
        assert api_client.get(f"/api/v1/organisations/{pk}", **headers).status_code == 404
