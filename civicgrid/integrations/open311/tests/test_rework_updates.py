"""servicerequestupdates names a 返工 (on-site verification failed) as the follow page does, 核查未通过，重新处置,
between the two 处置反馈 it separates, and still open; the reason the verifier wrote for staff is never shown."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case, CaseStep
from civicgrid.apps.cases.services import act, follow_status
from civicgrid.apps.cases.tests.conftest import jpeg

from .conftest import form, get, post, xml

pytestmark = pytest.mark.django_db
REASON = "现场仍有残留，处置照片模糊，联系13812345678"
REWORK = "核查未通过，重新处置"
LOOP = ["立案", "派遣：区城管局", "处置反馈：已清理", REWORK, "处置反馈：已再次清理", "核查通过", "结案"]
STATUSES = ["open", "open", "open", "open", "open", "open", "closed"]


def reported(o311, http) -> Case:
    response = post(http, "requests.json", form(o311))
    assert response.status_code == 201, response.content
    return Case.objects.get(number=response.json()[0]["service_request_id"])


def reworked_and_closed(o311, case: Case) -> Case:
    """立案 → 派遣 → 处置反馈 → 返工 → 处置反馈 → 核查通过 → 结案."""
    return rework_and_close(o311, act(actor=o311.dispatcher, case=case, action="accept"))


def rework_and_close(o311, case: Case) -> Case:
    """From 立案 on: 派遣 → 处置反馈 → 返工 → 处置反馈 → 核查通过 → 结案."""
    for actor, action, inputs in ((o311.dispatcher, "dispatch", {"department": o311.dept.pk}),
                                  (o311.handler, "report_back", {"note": "已清理"}),
                                  (o311.worker, "rework", {"reason": REASON}),
                                  (o311.handler, "report_back", {"note": "已再次清理"}),
                                  (o311.worker, "verify", {"photos": [jpeg()]}),
                                  (o311.dispatcher, "close", {})):
        case = act(actor=actor, case=case, action=action, **inputs)
    return case


def assert_no_reason(text: str) -> None:
    assert "残留" not in text and "照片模糊" not in text
    assert "13812345678" not in text and "138****5678" not in text


def test_json_lists_the_rework_between_the_two_handlings_still_open_without_its_reason(o311, http):
    case = reworked_and_closed(o311, reported(o311, http))
    response = get(http, "servicerequestupdates.json")
    assert response.status_code == 200
    updates = [u for u in response.json() if u["service_request_id"] == case.number]
    assert [u["description"] for u in updates] == LOOP
    assert [u["status"] for u in updates] == STATUSES
    rework = case.steps.get(action="rework")
    assert updates[3]["update_id"] == str(rework.pk) and updates[3]["media_url"] == ""
    assert rework.note == REASON  # staff keep the reason; the feed does not show it
    assert_no_reason(response.content.decode())
    # the ids are the steps' own, as strings, and the same on every read
    assert [u["update_id"] for u in updates] == [
        str(pk) for pk in CaseStep.objects.filter(case=case, action__in=(
            "accept", "dispatch", "report_back", "rework", "verify", "close")).order_by("at", "id")
        .values_list("pk", flat=True)]
    assert [u["update_id"] for u in get(http, "servicerequestupdates.json").json()
            if u["service_request_id"] == case.number] == [u["update_id"] for u in updates]


def test_xml_lists_the_rework_as_the_follow_page_names_it(o311, http):
    case = reworked_and_closed(o311, reported(o311, http))
    response = get(http, "servicerequestupdates.xml")
    assert response.status_code == 200
    updates = [u for u in xml(response).findall("request_update")
               if u.find("service_request_id").text == case.number]
    assert [u.find("description").text for u in updates] == LOOP
    assert [u.find("status").text for u in updates] == STATUSES
    assert all(u.find("update_id").text.isdigit() for u in updates)
    assert_no_reason(response.content.decode())
    # the same words the reporter's follow page shows for the step
    follow = follow_status(case.reporters.get().follow_token)["steps"]
    assert [s["label"] for s in follow if s["action"] == "rework"] == [REWORK]


def test_a_merged_request_hears_its_carriers_rework_under_its_own_id(o311, http):
    carrier, merged = reported(o311, http), reported(o311, http)
    act(actor=o311.dispatcher, case=carrier, action="accept")
    act(actor=o311.dispatcher, case=merged, action="merge", parent=carrier.number)
    carrier = rework_and_close(o311, Case.objects.get(pk=carrier.pk))
    response = get(http, "servicerequestupdates.json")
    heard = [u for u in response.json() if u["service_request_id"] == merged.number]
    rework = carrier.steps.get(action="rework")
    assert [u["description"] for u in heard] == ["合并到主案卷", *LOOP[1:]]
    assert heard[3] == {"update_id": f"{rework.pk}-{merged.number}", "service_request_id": merged.number,
                        "status": "open", "updated_datetime": heard[3]["updated_datetime"], "description": REWORK,
                        "media_url": ""}
    assert_no_reason(response.content.decode())


def test_the_hold_and_the_resumption_are_updates_still_open_without_the_reason(o311, http):
    """挂账 and 恢复办理 are told to the reporters and shown on their follow page: the feed lists them too, as the
    follow page names them, the request still open, and the reason written for staff stays inside."""
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    leader = user_with(Role.LEADER, region=o311.tree["140213"], username="ld-hold")
    case = act(actor=o311.dispatcher, case=reported(o311, http), action="accept")
    case = act(actor=o311.dispatcher, case=case, action="dispatch", department=o311.dept.pk)
    case = act(actor=leader, case=case, action="suspend", reason=f"等待专项资金，{REASON}")
    case = act(actor=leader, case=case, action="unsuspend")
    response = get(http, "servicerequestupdates.json", service_request_id=case.number)
    assert response.status_code == 200
    updates = response.json()
    follow = {s["action"]: s["label"] for s in follow_status(case.reporters.get().follow_token)["steps"]}
    assert [u["description"] for u in updates] == ["立案", "派遣：区城管局", follow["suspend"], follow["unsuspend"]]
    assert [u["status"] for u in updates] == ["open"] * 4
    assert "专项资金" not in response.content.decode()
    assert_no_reason(response.content.decode())
