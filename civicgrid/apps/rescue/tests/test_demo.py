"""The demo stage: the fire brigade, a team per street, three social forces, synthetic members with valid
(masked) phones, one closed example incident with its report, the brigade's duty account; idempotent."""

from __future__ import annotations

import pytest

from civicgrid.apps.rescue.demo import TEAM_ACCOUNT, load_demo_rescue
from civicgrid.apps.rescue.models import CallOut, Incident, RescueMember, RescueTeam
from civicgrid.apps.rescue.services import MEMBER_PHONE_CONTEXT
from civicgrid.foundation.access.models import User
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.pii import mask_phone, validate_mobile
from civicgrid.foundation.orgs.models import Organisation, OrgKind

pytestmark = pytest.mark.django_db


def test_demo_rescue(tree):
    Organisation.objects.create(code="140213-XFJY", name="平城区消防救援大队", kind=OrgKind.RESCUE_TEAM,
                                region=tree["140213"])
    Organisation.objects.create(code="R140213050", name="永泰街道防汛应急抢险队", kind=OrgKind.RESCUE_TEAM,
                                region=tree["140213050"])
    summary = load_demo_rescue()
    assert "队伍 6 支" in summary and "示例险情" in summary
    teams = {t.code: t for t in RescueTeam.objects.all()}
    assert set(teams) == {"RT-XFJY", "RT-140213050", "RT-140213051", "RT-SH-01", "RT-SH-02", "RT-SH-03"}
    assert teams["RT-XFJY"].kind == "main" and teams["RT-XFJY"].organisation.code == "140213-XFJY"
    assert teams["RT-140213050"].organisation.code == "R140213050" and teams["RT-140213050"].kind == "street"
    assert all(t.is_synthetic and t.availability == "standby" for t in teams.values())
    assert "water_rescue" in teams["RT-XFJY"].skills and "machinery" in teams["RT-SH-02"].skills
    members = list(RescueMember.objects.all())
    assert len(members) == 10 + 2 * 5 + 3 * 4 and all(m.is_synthetic for m in members)
    for m in members:
        phone = keys.decrypt(m.phone_enc, MEMBER_PHONE_CONTEXT)
        assert validate_mobile(phone, allow_landline=False) == phone and m.phone_masked == mask_phone(phone)
    [incident] = Incident.objects.all()
    assert incident.status == "closed" and incident.is_synthetic and incident.report_lessons
    assert CallOut.objects.filter(incident=incident, status="released").count() >= 1
    assert not Incident.objects.exclude(status="closed").exists()
    account = User.objects.get(username=TEAM_ACCOUNT)
    assert account.is_demo and account.grants.get().department.code == "140213-XFJY"

    assert load_demo_rescue().startswith("已存在，未改动")
    assert RescueTeam.objects.count() == 6 and RescueMember.objects.count() == len(members)
    assert Incident.objects.count() == 1
