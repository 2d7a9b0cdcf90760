"""Organisation pages: by kind, posts on the detail page, scope."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.orgs.models import Organisation, OrgKind, Post
from civicgrid.testing.builders import department, user_with

pytestmark = pytest.mark.django_db


def oids(html: str) -> set[int]:
    table = re.search(r'<table class="list[^"]*" data-model="orgs.organisation">(.*?)</table>', html, re.S)
    return {int(x) for x in re.findall(r'<tr data-oid="(\d+)"', table.group(1))} if table else set()


@pytest.fixture
def orgs(tree):
    dept = department("区城管局")
    office = Organisation.objects.create(code="S050", name="永泰街道办事处", kind=OrgKind.STREET_OFFICE,
                                         region=tree["140213050"])
    committee = Organisation.objects.create(code="C050001", name="永泰社区1居委会", kind=OrgKind.COMMITTEE,
                                            region=tree["140213050001"], parent=office)
    other = Organisation.objects.create(code="S051", name="古城街道办事处", kind=OrgKind.STREET_OFFICE,
                                        region=tree["140213051"])
    return {"dept": dept, "office": office, "committee": committee, "other": other}


def test_list_by_kind_within_scope(tree, orgs, client_for):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    c = client_for(staff)
    everything = oids(c.get(reverse("ui:org_list")).content.decode())
    # Their street's organisations and the district's departments above them, not the other street.
    assert everything == {orgs["dept"].pk, orgs["office"].pk, orgs["committee"].pk}
    offices = oids(c.get(reverse("ui:org_list"), {"kind": "street_office"}).content.decode())
    assert offices == {orgs["office"].pk}
    assert oids(c.get(reverse("ui:org_list"), {"q": "居委"}).content.decode()) == {orgs["committee"].pk}


def test_detail_shows_posts_and_children_and_404_outside(tree, orgs, client_for):
    holder = user_with(Role.STREET_STAFF, region=tree["140213050"])
    holder.display_name = "赵主任"
    holder.save()
    Post.objects.create(organisation=orgs["office"], title="主任", user=holder, is_lead=True, phone="enc:secret")
    c = client_for(holder)
    resp = c.get(reverse("ui:org_detail", args=[orgs["office"].pk]))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "主任" in html and "赵主任" in html and "enc:secret" not in html
    assert oids(html) == {orgs["committee"].pk}
    committee = c.get(reverse("ui:org_detail", args=[orgs["committee"].pk])).content.decode()
    assert "上级机构" in committee and f'href="{reverse("ui:org_detail", args=[orgs["office"].pk])}"' in committee
    assert f'hx-get="/audit/organisation/{orgs["office"].pk}/history/"' in html
    assert c.get(reverse("ui:org_detail", args=[orgs["other"].pk])).status_code == 404


def test_department_handler_sees_own_department_only(tree, orgs, client_for):
    handler = user_with(Role.DEPARTMENT_HANDLER, department=orgs["dept"])
    c = client_for(handler)
    assert oids(c.get(reverse("ui:org_list")).content.decode()) == {orgs["dept"].pk}
    assert c.get(reverse("ui:org_detail", args=[orgs["dept"].pk])).status_code == 200
    assert c.get(reverse("ui:org_detail", args=[orgs["office"].pk])).status_code == 404


def test_a_parent_out_of_scope_is_named_but_not_linked(tree, orgs, client_for):
    """A department's handler sees the district government named as the parent, without a link that would 404."""
    government = Organisation.objects.create(code="G140213", name="平城区人民政府", kind=OrgKind.OTHER,
                                             region=tree["140213"])
    Organisation.objects.filter(pk=orgs["dept"].pk).update(parent=government)
    handler = user_with(Role.DEPARTMENT_HANDLER, department=orgs["dept"])
    c = client_for(handler)
    html = c.get(reverse("ui:org_detail", args=[orgs["dept"].pk])).content.decode()
    parent_url = reverse("ui:org_detail", args=[government.pk])
    assert "平城区人民政府" in html and f'href="{parent_url}"' not in html
    assert c.get(parent_url).status_code == 404
