"""The router in the product: suggestions at intake, versions (activate, rollback, audited), auto-dispatch
above the threshold and triage below, retraining from closed cases, the management command, the API."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import NEIGHBOUR_POINT, auth, jpeg, report
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events import bus
from civicgrid.integrations.router import suggest, versions
from civicgrid.integrations.router.handlers import SYSTEM_USERNAME, auto_dispatch
from civicgrid.integrations.router.models import RouterModelVersion
from civicgrid.testing.builders import user_with

from .conftest import EXAMPLE

pytestmark = pytest.mark.django_db

CITY = "小区门口垃圾堆放很多天没人清运，路边暴露垃圾发臭"  # 区城管局 in the example set


def test_without_a_model_there_is_no_suggestion_and_intake_works(loop):
    assert suggest("路边垃圾") is None
    case = report(loop)
    assert case.suggestion is None and case.status == Status.REPORTED


def test_suggest_with_the_active_model_maps_labels_to_departments(loop, example_model):
    v = versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)
    assert v.is_active and v.labels and (v.metrics["cv"]["macro_f1"] > 0.8)
    s = suggest(CITY)
    assert s["label"] == "区城管局" and 0 < s["confidence"] <= 1 and s["model_version"] == v.version
    assert s["department_id"] == loop.dept.pk and s["department"] == "区城管局"
    assert len(s["top3"]) == 3 and s["top3"][0]["label"] == "区城管局"
    unknown = [t for t in s["top3"] if t["label"] == "区应急局"]
    assert not unknown or unknown[0]["department_id"] is None  # no such organisation here
    # intake keeps the suggestion on the case
    case = report(loop, title="路边暴露垃圾", description=CITY)
    assert case.suggestion["label"] == "区城管局" and case.suggestion["model_version"] == v.version
    # empty text still answers (the model copes with it)
    assert suggest("")["label"] in v.labels


def test_a_batch_gets_the_suggestions_one_text_at_a_time_would_get(loop, example_model):
    from civicgrid.integrations.router import suggest_many

    assert suggest_many(["路边垃圾"]) == [None]  # no model yet
    versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)
    texts = [CITY, "", "小区楼道里堆满杂物，存在消防隐患", "路灯不亮了", CITY]
    many = suggest_many(texts)
    assert len(many) == len(texts) and suggest_many([]) == []
    for text, got in zip(texts, many, strict=True):
        one = suggest(text)
        assert got["label"] == one["label"] and got["department_id"] == one["department_id"]
        assert got["confidence"] == pytest.approx(one["confidence"], abs=2e-4)
        assert [t["label"] for t in got["top3"]] == [t["label"] for t in one["top3"]]


def test_versions_activate_and_roll_back_audited(loop, example_model):
    first = versions.register(example_model, actor=loop.dispatcher, source="a", activate=True)
    second = versions.register(example_model, actor=loop.dispatcher, source="b", activate=True)
    assert RouterModelVersion.objects.filter(is_active=True).get() == second
    assert suggest(CITY)["model_version"] == second.version
    versions.activate_version(first.pk, actor=loop.dispatcher)  # rollback
    assert RouterModelVersion.objects.filter(is_active=True).get() == first
    assert suggest(CITY)["model_version"] == first.version  # the cache follows the active version
    entries = AuditEntry.objects.filter(action="router.activate").order_by("pk")
    assert entries.count() == 3 and entries.last().data["previous"] == second.version
    assert AuditEntry.objects.filter(action="router.register").count() == 2


def test_the_live_model_is_looked_up_at_most_every_recheck_interval(loop, example_model, settings,
                                                                    django_assert_num_queries):
    settings.CIVICGRID_ROUTER_RECHECK_SECONDS = 3600
    first = versions.register(example_model, actor=loop.dispatcher, source="a", activate=True)
    assert suggest(CITY)["model_version"] == first.version
    second = versions.register(example_model, actor=loop.dispatcher, source="b")
    # Activated by another process (only the database changes here): this one keeps its model for the interval.
    RouterModelVersion.objects.filter(pk=first.pk).update(is_active=False)
    RouterModelVersion.objects.filter(pk=second.pk).update(is_active=True)
    with django_assert_num_queries(0):
        assert suggest(CITY)["model_version"] == first.version
    # Activated through the service in this process: at once.
    versions.activate_version(second.pk, actor=loop.dispatcher)
    assert suggest(CITY)["model_version"] == second.version


def _model_active(loop, example_model):
    return versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)


def test_auto_dispatch_above_the_threshold_by_the_system_account_and_flagged(loop, example_model, settings):
    _model_active(loop, example_model)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    case = report(loop, title="路边暴露垃圾", description=CITY)
    bus.dispatch_pending()  # case.reported → router.auto_dispatch
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.department == loop.dept and case.auto_dispatched
    steps = list(CaseStep.objects.filter(case=case).order_by("pk").values_list("action", "note", "actor__username"))
    assert [a for a, _, _ in steps] == ["report", "accept", "dispatch"]
    assert "自动派遣" in steps[-1][1] and "置信度" in steps[-1][1] and steps[-1][2] == SYSTEM_USERNAME
    system = get_user_model().objects.get(username=SYSTEM_USERNAME)
    assert not system.has_usable_password()  # it cannot sign in
    assert system.grants.get().region.code == "140213" and system.grants.get().role == Role.COMMAND_DISPATCHER
    assert AuditEntry.objects.filter(action="router.auto_dispatch", actor=system).count() == 1
    assert auto_dispatch(case.pk).startswith("triage")  # a redelivered event changes nothing
    # a second case (elsewhere: nearby it would wait as a possible duplicate) reuses the account and its grant
    other = report(loop, title="垃圾桶满溢", description=CITY, lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1])
    assert auto_dispatch(other.pk) == "dispatched"
    assert get_user_model().objects.filter(username=SYSTEM_USERNAME).count() == 1 and system.grants.count() == 1


def test_the_auto_dispatch_step_reads_in_the_language_of_the_page(loop, example_model, settings, client):
    """The step the system writes is Chinese on the page and in the record, English in the English interface;
    the account is named in the reader's language too."""
    from django.urls import reverse

    _model_active(loop, example_model)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    case = report(loop, title="路边暴露垃圾", description=CITY)
    bus.dispatch_pending()
    step = CaseStep.objects.filter(case=case, action="dispatch").get()
    assert step.note.startswith("自动派遣：") and step.data["note_en"].startswith("dispatched automatically: model")
    client.force_login(loop.dispatcher)
    url = reverse("ui:case_detail", args=[case.number])
    html = client.get(url).content.decode()
    assert "自动派遣：模型" in html and "智能分拨（系统）" in html and "dispatched automatically" not in html
    client.post(reverse("set_language"), {"language": "en", "next": url})
    html = client.get(url).content.decode()
    assert "dispatched automatically: model" in html and "自动派遣：" not in html
    assert "Smart routing (system)" in html and "智能分拨（系统）" not in html


def test_a_likely_duplicate_waits_for_a_dispatcher_to_merge_it(loop, example_model, settings):
    """Once dispatched, a case can no longer be merged: a report near an open case of the same kind stays in
    triage, where the case page offers the merge."""
    _model_active(loop, example_model)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    first = report(loop, title="路边暴露垃圾", description=CITY)
    bus.dispatch_pending()
    again = report(loop, title="门口垃圾没人清", description=CITY)
    bus.dispatch_pending()
    first.refresh_from_db(), again.refresh_from_db()
    assert first.status == Status.DISPATCHED and again.status == Status.REPORTED and not again.auto_dispatched
    assert auto_dispatch(again.pk) == f"triage: 可能与 {first.number} 重复，留待人工合并 / may duplicate {first.number}: triage"
    case = act(actor=loop.dispatcher, case=again, action="merge", parent=first.number)
    assert case.status == Status.MERGED and case.parent_id == first.pk


def test_the_system_account_cannot_sign_in(loop, example_model, settings, client):
    from civicgrid.integrations.router.handlers import system_account

    user = system_account("140213050001001")
    assert not client.login(username=SYSTEM_USERNAME, password="")
    assert client.post("/accounts/login/", {"username": SYSTEM_USERNAME, "password": "x"}).status_code != 302
    assert system_account().pk == user.pk


def test_below_the_threshold_the_case_stays_for_triage(loop, example_model, settings, api_client):
    _model_active(loop, example_model)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.99
    case = report(loop, title="有点事", description="不知道找谁")  # a vague report: low confidence
    assert case.suggestion["confidence"] < 0.99
    bus.dispatch_pending()
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.department is None and not case.auto_dispatched
    body = api_client.get("/api/v1/router/triage?below=true", **auth(loop.dispatcher)).json()
    assert [i["number"] for i in body["items"]] == [case.number] and body["threshold"] == 0.99
    # out of intake scope: nothing
    assert api_client.get("/api/v1/router/triage", **auth(loop.other_street_dispatcher)).json()["items"] == []
    assert api_client.get("/api/v1/router/triage", **auth(loop.handler)).json()["items"] == []


def test_no_auto_dispatch_without_an_active_model_or_above_one(loop, example_model, settings):
    v = _model_active(loop, example_model)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    case = report(loop, title="路边暴露垃圾", description=CITY)
    RouterModelVersion.objects.filter(pk=v.pk).update(is_active=False)
    assert auto_dispatch(case.pk) == "triage: 没有启用的模型 / no active model"
    RouterModelVersion.objects.filter(pk=v.pk).update(is_active=True)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 1.5
    assert auto_dispatch(case.pk).startswith("triage: 自动派遣已关闭")
    case.refresh_from_db()
    assert case.status == Status.REPORTED and CaseStep.objects.filter(case=case).count() == 1
    assert not get_user_model().objects.filter(username=SYSTEM_USERNAME).exists()


def _closed(loop, title, description, dept, handler):
    case = report(loop, title=title, description=description)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=dept.pk)
    act(actor=handler, case=case, action="report_back", note="已处理")
    act(actor=loop.worker, case=case, action="verify", photos=[jpeg()])
    return act(actor=loop.dispatcher, case=case, action="close")


def test_retrain_from_closed_cases_learns_the_departments_finally_dispatched(loop, settings):
    with pytest.raises(versions.RetrainRefused, match="not enough closed cases"):
        versions.train_from_cases(actor=loop.dispatcher)
    for title in ("路边暴露垃圾", "垃圾桶满溢", "小区门口垃圾堆放"):
        _closed(loop, title, "垃圾没人清运，气味难闻", loop.dept, loop.handler)
    for title in ("楼道墙皮脱落", "危房墙体开裂", "房屋漏雨"):  # a dispatcher's choice is the label
        _closed(loop, title, "房屋质量问题，墙体开裂漏水", loop.other_dept, loop.other_handler)
    v = versions.train_from_cases(actor=loop.dispatcher)
    assert v.is_active and sorted(v.labels) == sorted([loop.dept.name, loop.other_dept.name])
    assert v.n_samples == 6 and v.source.startswith("cases:")
    assert AuditEntry.objects.filter(action="router.retrain").count() == 1
    s = suggest("房屋墙体开裂漏水")
    assert s["label"] == loop.other_dept.name and s["department_id"] == loop.other_dept.pk


def test_the_retrain_check_counts_closed_cases_without_reading_them(loop, django_assert_num_queries):
    for title in ("路边暴露垃圾", "垃圾桶满溢"):
        _closed(loop, title, "垃圾没人清运", loop.dept, loop.handler)
    _closed(loop, "楼道墙皮脱落", "墙体开裂漏水", loop.other_dept, loop.other_handler)
    report(loop, title="未结案", description="还在处理")  # open: not an example
    _, labels = versions.closed_case_examples()
    with django_assert_num_queries(1):
        counts = versions.closed_case_counts()
    assert counts == Counter(labels) == Counter({loop.dept.name: 2, loop.other_dept.name: 1})
    with pytest.raises(versions.RetrainRefused, match="1 department"):  # one department with ≥ 2 closed cases
        versions.check_enough_cases()
    _closed(loop, "危房墙体开裂", "墙体开裂漏水", loop.other_dept, loop.other_handler)
    versions.check_enough_cases()  # two departments with two each: enough


def test_versions_api_needs_router_manage_and_activates(loop, example_model, api_client):
    first = versions.register(example_model, actor=loop.dispatcher, source="a", activate=True)
    second = versions.register(example_model, actor=loop.dispatcher, source="b", activate=True)
    assert api_client.get("/api/v1/router/versions", **auth(loop.worker)).status_code == 403
    body = api_client.get("/api/v1/router/versions", **auth(loop.dispatcher)).json()
    assert [i["version"] for i in body["items"]][:2] == [second.version, first.version]
    assert body["items"][0]["metrics"]["cv"]["macro_f1"] > 0.8
    admin = user_with(Role.SYSTEM_ADMIN, region=loop.tree["140213"], username="sa")
    r = api_client.post(f"/api/v1/router/versions/{first.pk}/activate", **auth(admin))
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert api_client.post("/api/v1/router/versions/999999/activate", **auth(admin)).status_code == 404
    assert api_client.post(f"/api/v1/router/versions/{first.pk}/activate", **auth(loop.worker)).status_code == 403
    r = api_client.post("/api/v1/router/retrain", **auth(admin))
    assert r.status_code == 400 and "closed cases" in r.json()["detail"]


def test_retrain_api_runs_the_task(loop, api_client):
    for title in ("路边暴露垃圾", "垃圾桶满溢"):
        _closed(loop, title, "垃圾没人清运", loop.dept, loop.handler)
    for title in ("楼道墙皮脱落", "危房墙体开裂"):
        _closed(loop, title, "墙体开裂漏水", loop.other_dept, loop.other_handler)
    r = api_client.post("/api/v1/router/retrain?activate=true", **auth(loop.dispatcher))
    assert r.status_code == 202, r.content
    v = RouterModelVersion.objects.get(is_active=True)
    assert r.json()["version"] in (None, v.version) and v.n_samples == 4


def test_router_command_train_register_eval_predict(loop, tmp_path, capsys):
    out = tmp_path / "m"
    call_command("router", "train", "--csv", str(EXAMPLE), "--out", str(out), "--register", "--activate")
    text = capsys.readouterr().out
    assert "macro-F1" in text and "registered model version" in text
    v = RouterModelVersion.objects.get(is_active=True)
    call_command("router", "eval", "--model", v.path, "--csv", str(EXAMPLE))
    text = capsys.readouterr().out
    assert "macro" in text.lower() and "区城管局" in text
    pred = tmp_path / "pred.csv"
    call_command("router", "predict", "--model", str(out), "--csv", str(EXAMPLE), "--out", str(pred))
    lines = pred.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("id,label,confidence") and len(lines) > 300
    call_command("router", "versions")
    assert v.version in capsys.readouterr().out
    with pytest.raises(CommandError, match="not enough closed cases"):
        call_command("router", "retrain")
    with pytest.raises(CommandError, match="not found"):
        call_command("router", "activate", "nope")
    assert Case.objects.count() == 0
