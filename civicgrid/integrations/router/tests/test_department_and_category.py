"""What a tester found of the router's suggestion: a label such as 社区居委会 (not a department one can dispatch
to) triggered auto-dispatch to whatever department a rule named, on a confidence that was about another answer;
and no category was ever suggested, so a confident case was held for lack of one and the 立案 form started
empty. Now a label maps only to an organisation that takes cases (else it is 建议由社区处理), auto-dispatch acts
only when the rule's department is the model's own, the panels show the department the routing would choose,
and each suggestion carries the subclasses whose words the text matches."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from civicgrid.apps.cases.models import Status
from civicgrid.apps.cases.tests.conftest import NEIGHBOUR_POINT, report
from civicgrid.apps.categories import matching
from civicgrid.apps.categories.models import RoutingRule
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.integrations.router import versions
from civicgrid.integrations.router.handlers import HELD_STEP, auto_dispatch
from civicgrid.integrations.router.service import resolve_label, suggest

pytestmark = pytest.mark.django_db

# Made-up texts (the example set's kind of report, never a real message).
NEIGHBOURS = "邻居养的狗每天半夜叫，吵得没法休息，想请社区居委会出面调解一下邻里纠纷"  # 社区居委会 in the example set
CITY = "小区门口垃圾堆放很多天没人清运，路边暴露垃圾发臭"  # 区城管局 in the example set


@pytest.fixture
def confident(loop, example_model, settings):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    return versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)


def _panel(user, **params) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/router/suggest/", params)
    assert response.status_code == 200
    return response.content.decode()


# ------------------------------------------------------------------------------ labels → real organisations
def test_a_label_maps_only_to_an_organisation_that_takes_cases(loop):
    committee = Organisation.objects.create(code="C1", name="永泰社区居委会", short_name="社区居委会",
                                            kind=OrgKind.COMMITTEE, region=loop.tree["140213050001"])
    assert resolve_label("区城管局", "department")["department_id"] == loop.dept.pk
    by_short_name = resolve_label("社区居委会", "department")
    assert by_short_name["department_id"] is None and by_short_name["local"] is True
    committee.delete()
    # no organisation of that name at all: still a community's business, not "unknown"
    assert resolve_label("社区居委会", "department") == {"department_id": None, "department": None,
                                                       "category_id": None, "category": None, "local": True}
    assert resolve_label("物业公司", "auto")["local"] is True
    unknown = resolve_label("区教育局", "department")
    assert unknown["department_id"] is None and unknown["local"] is False


# ------------------------------------------------------------------------------------------- auto-dispatch
def test_a_community_label_never_dispatches_even_with_a_rule(loop, confident):
    """The tester's case: 社区居委会 at 0.99, and a rule named 区住建局: it was dispatched there by nobody."""
    RoutingRule.objects.create(category=loop.other_cat, region_code="140213050", department=loop.other_dept)
    case = report(loop, title="狗叫扰民", description=NEIGHBOURS, category=loop.other_cat.pk)
    assert case.suggestion["label"] == "社区居委会" and case.suggestion["department_id"] is None
    assert case.suggestion["local"] is True

    outcome = auto_dispatch(case.pk)

    assert outcome.startswith("triage: 模型建议「社区居委会」建议由社区处理，不是可派遣的部门（分拨规则 #")
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.department_id is None and not case.auto_dispatched
    held = case.steps.get(action=HELD_STEP)
    assert "建议由社区处理" in held.note and "派往 区住建局" in held.note
    assert held.data["note_en"].startswith("not dispatched automatically: the model's \"社区居委会\" is for the "
                                           "community to handle, not a department (routing rule #")
    assert not AuditEntry.objects.filter(action="router.auto_dispatch").exists()


def test_the_live_panel_names_the_routed_department_beside_the_models(loop, confident):
    point = {"lng": str(NEIGHBOUR_POINT[0]), "lat": str(NEIGHBOUR_POINT[1]), "crs": "wgs84"}
    # 暴露垃圾's default department is the model's own 区城管局: they agree, and it will be dispatched
    html = _panel(loop.dispatcher, title="暴露垃圾", description=CITY, category=str(loop.cat.pk), **point)
    routed = re.search(r"<p data-routed[^>]*>.*?</p>", html, re.S).group(0)
    assert "data-agrees" in routed and "分类的默认处置部门将派往 <strong>区城管局</strong>" in routed
    assert 'data-outlook="auto"' in html
    # a rule for the street names 区住建局: the panel says so, that it differs, and that the case will wait
    rule = RoutingRule.objects.create(category=loop.cat, region_code="140213050", department=loop.other_dept)
    html = _panel(loop.dispatcher, title="暴露垃圾", description=CITY, category=str(loop.cat.pk), **point)
    routed = re.search(r"<p data-routed[^>]*>.*?</p>", html, re.S).group(0)
    assert "data-agrees" not in routed and f"按分拨规则 #{rule.pk}将派往 <strong>区住建局</strong>" in routed
    assert "与模型建议不同" in routed
    assert 'data-outlook="held"' in html and "二者不一致" in html and "登记后将自动派遣" not in html
    # not located yet: the panel says where the department will show
    html = _panel(loop.dispatcher, title="暴露垃圾", description=CITY, category=str(loop.cat.pk))
    assert "data-routed-unknown" in html and "<p data-routed" not in html
    # a community label: shown as such, never as a department
    html = _panel(loop.dispatcher, title="狗叫扰民", description=NEIGHBOURS, **point)
    assert re.search(r"data-suggested-department>社区居委会（建议由社区处理，不是可派遣的部门）<", html)


def test_the_triage_list_shows_the_rules_department_beside_the_models(loop, example_model, settings):
    versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 1.5  # off: everything waits
    RoutingRule.objects.create(category=loop.cat, region_code="140213050", department=loop.other_dept)
    case = report(loop, title="暴露垃圾", description=CITY)
    client = Client()
    client.force_login(loop.dispatcher)
    html = client.get(reverse("ui:router_triage")).content.decode()
    row = re.search(rf'<tr data-oid="{case.pk}">.*?</tr>', html, re.S).group(0)
    assert "规则派往 区住建局" in row and "与模型建议不同" in row and "区城管局" in row


# ------------------------------------------------------------------------------------- category suggestions
ROWS = [
    matching.Row(1, "路灯异常", "市政公用设施类 › 路灯异常", "路灯,市政公用设施", "市政公用设施类"),
    matching.Row(2, "路灯", "市政公用设施 › 路灯", "路灯,市政公用设施", "市政公用设施"),
    matching.Row(3, "路灯井盖异常", "市政公用设施类 › 路灯井盖异常", "路灯井盖,市政公用设施", "市政公用设施类"),
    matching.Row(4, "污水井盖异常", "市政公用设施类 › 污水井盖异常", "污水井盖,井盖,市政公用设施", "市政公用设施类"),
    matching.Row(5, "雨水井盖异常", "市政公用设施类 › 雨水井盖异常", "雨水井盖,井盖,市政公用设施", "市政公用设施类"),
    matching.Row(6, "邻里纠纷", "矛盾纠纷 › 邻里纠纷", "邻里纠纷,邻居,邻里,吵架", "矛盾纠纷"),
    matching.Row(7, "油烟污染", "市容环境类 › 油烟污染", "油烟,饭店", "市容环境类"),
]


def _ranked(index, text):
    return [{"id": pk, "name": index.rows[pk].name, "score": score} for pk, score in index.rank(text)]


def test_the_matcher_scores_names_and_keywords_and_says_when_the_top_one_is_clear():
    index = matching.Index(ROWS)
    lamp = _ranked(index, "小区门口路灯坏了，晚上黑漆漆的")
    # the 事项 and the 部件 of the same name lead (the 事项 first: more of its phrases match); the 路灯井盖 trails
    assert [r["id"] for r in lamp][:2] == [1, 2] and lamp[0]["score"] == 1.0
    assert matching.clear(lamp)
    # 井盖 alone fits every kind of manhole cover: shown, not pre-selected
    cover = _ranked(index, "井盖丢了")
    assert {r["id"] for r in cover[:2]} == {4, 5} and not matching.clear(cover)
    assert _ranked(index, "楼上的邻居天天吵架")[0]["id"] == 6
    assert _ranked(index, "饭店油烟直排")[0]["id"] == 7 and _ranked(index, "ＸＸ饭店，油烟！")[0]["id"] == 7
    assert _ranked(index, "今天天气很好") == [] and _ranked(index, "") == []
    assert not matching.clear([])


# a long, made-up complaint around the report: the words every complaint uses (问题, 反映, 投诉, 处理)
PADDING = ("您好，我想反映一个问题，这个情况已经持续很久了，附近居民意见很大，多次打电话投诉都没有人来处理，"
           "希望有关部门重视，尽快安排人员解决，给大家一个交代，谢谢！")


def _shipped_index():
    from civicgrid.apps.categories import loaders

    specs = loaders.gbt_specs() + loaders.social_specs()
    classes = {(s.kind, s.code): s.name for s in specs if not s.parent_code}
    return matching.Index([
        matching.Row(i, s.name, f"{classes.get((s.kind, s.parent_code), '')} › {s.name}", s.keywords,
                     classes.get((s.kind, s.parent_code), ""), s.acceptance)
        for i, s in enumerate(specs) if s.parent_code])


@pytest.mark.parametrize("report, expected", [
    ("我们小区门口的井盖丢了好几天了，晚上走路很危险", "井盖"),
    ("小区里的路灯坏了一个多月，晚上黑漆漆的", "路灯"),
    ("菜市场门口有人占道经营，堵得车过不去", "占道经营"),
])
def test_a_distinctive_word_beats_generic_complaint_wording_around_it(report, expected):
    index = _shipped_index()
    for text in (report, PADDING + report + PADDING):
        top = _ranked(index, text)
        assert top and expected in top[0]["name"], (text, top)
    # alone it is whole and certain; inside a long complaint it is shown, but one mention is not pre-selected
    assert _ranked(index, report)[0]["score"] == 1.0
    assert 0.3 <= _ranked(index, PADDING + report + PADDING)[0]["score"] < matching.CLEAR_SCORE


def test_generic_words_alone_suggest_nothing_certain():
    index = _shipped_index()
    top = _ranked(index, PADDING * 2)
    assert not matching.clear(top) and all(r["score"] < matching.CLEAR_SCORE for r in top)


def test_a_suggestion_carries_the_matching_subclasses_and_the_accept_form_starts_from_a_clear_one(
        loop, confident, client):
    # the model (departments only) names no category; the text names 暴露垃圾 outright
    case = report(loop, actor=loop.dispatcher, source="hotline", category=None, title="暴露垃圾",
                  description=CITY, hotline_ticket="12345-20261201-0099")
    s = case.suggestion
    assert s.get("category_id") is None
    assert s["categories"][0]["id"] == loop.cat.pk and s["categories"][0]["score"] == 1.0
    assert s["categories"][0]["path"] == "市容环境类 › 暴露垃圾"
    assert all(c["id"] != loop.cls.pk for c in s["categories"])  # subclasses only
    client.force_login(loop.dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    form = re.search(r'data-action-form="accept".*?</form>', html, re.S).group(0)
    assert re.search(rf'<option value="{loop.cat.pk}"[^>]*selected', form)
    assert "data-suggested-categories" in html and "市容环境类 › 暴露垃圾" in html
    # still held: the category suggestion pre-fills a form, it never accepts a case by itself
    assert auto_dispatch(case.pk).startswith("triage: 未确定事项分类")


def test_an_unclear_match_is_shown_but_not_preselected(loop, confident, client):
    case = report(loop, actor=loop.dispatcher, source="hotline", category=None, title="垃圾",
                  description="楼下暴露垃圾，还有积存垃圾渣土", hotline_ticket="12345-20261201-0098")
    ids = [c["id"] for c in case.suggestion["categories"]]
    assert set(ids[:2]) == {loop.cat.pk, loop.sibling.pk}
    client.force_login(loop.dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    form = re.search(r'data-action-form="accept".*?</form>', html, re.S).group(0)
    assert not re.search(r"<option value=\"\d+\"[^>]*selected", form)


def test_a_grid_worker_sees_the_suggested_categories_it_may_report_under(loop, confident):
    html = _panel(loop.worker, title="暴露垃圾", description=CITY)
    block = re.search(r"<div data-suggested-categories>.*?</div>", html, re.S).group(0)
    assert f'data-use-suggested-category="{loop.cat.pk}"' in block and "市容环境类 › 暴露垃圾" in block
    # what was found, not a percentage that reads as certainty (one shared keyword was "100%")
    assert "（含该类名称或关键词）" in block and "%" not in block
    # no department, confidence or threshold for a reporter who does not dispatch
    assert "data-suggested-department" not in html and "置信度" not in html
    # nothing matched: no panel at all
    assert "data-suggested-categories" not in _panel(loop.worker, title="你好", description="今天天气很好")


def test_category_suggestions_follow_the_categories_as_they_change(loop, confident):
    assert suggest("路边暴露垃圾")["categories"][0]["id"] == loop.cat.pk
    loop.cat.is_active = False
    loop.cat.save()
    assert all(c["id"] != loop.cat.pk for c in suggest("路边暴露垃圾")["categories"])
    loop.sibling.keywords = "烂菜叶"
    loop.sibling.save()
    assert suggest("门口一堆烂菜叶")["categories"][0]["id"] == loop.sibling.pk



# ------------------------------------------------------------------ a community matter → the street office
def _offices(loop):
    """The street offices of the case's street (140213050) and of the next street, each with a handler."""
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    made = {}
    for code, name in (("140213050", "新建南路街道办事处"), ("140213051", "新华街街道办事处")):
        made[code] = Organisation.objects.create(code=f"SO{code}", name=name, kind=OrgKind.STREET_OFFICE,
                                                 region=loop.tree[code])
        user_with(Role.DEPARTMENT_HANDLER, department=made[code], username=f"so{code[-2:]}")
    return made


def test_a_community_label_prefills_the_street_office_of_the_cases_street_and_says_why(loop, confident):
    offices = _offices(loop)
    case = report(loop, title="狗叫扰民", description=NEIGHBOURS, category=loop.other_cat.pk)
    assert case.suggestion["label"] == "社区居委会" and case.suggestion["local"] is True

    outcome = auto_dispatch(case.pk)  # confident, yet never dispatched on a community label

    assert outcome.startswith("triage: 模型建议「社区居委会」建议由社区处理") and "新建南路街道办事处" in outcome
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.department_id is None and not case.auto_dispatched
    held = case.steps.get(action=HELD_STEP)
    assert "已预选所在街道的「新建南路街道办事处」" in held.note and "the street office" in held.data["note_en"]
    assert not AuditEntry.objects.filter(action="router.auto_dispatch").exists()

    client = Client()
    client.force_login(loop.dispatcher)
    page = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert re.search(r"<span data-street-office>.*<strong>新建南路街道办事处</strong>", page)
    from civicgrid.apps.cases.services import act

    act(actor=loop.dispatcher, case=case, action="accept")
    page = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    form = page[page.index('data-action-form="dispatch"'):]
    form = form[:form.index("</form>")]
    assert re.search(rf'<option value="{offices["140213050"].pk}" selected>', form)
    assert f'<option value="{offices["140213051"].pk}" selected>' not in form
    why = re.search(r"<span class=\"hint\" data-prefilled data-prefilled-street-office>(.*?)</span>", page, re.S)
    assert why and "社区事项" in why.group(1) and "「新建南路街道办事处」" in why.group(1) and "请派遣员确认" in why.group(1)


def test_a_rule_or_default_still_comes_before_the_street_office(loop, confident):
    from civicgrid.apps.categories.services import dispatch_target

    offices = _offices(loop)
    local = {"model_local": True}
    assert dispatch_target(loop.other_cat, "140213050001001", **local).department_id == offices["140213050"].pk
    assert dispatch_target(loop.other_cat, "140213051001001", **local).department_id == offices["140213051"].pk
    assert dispatch_target(loop.other_cat, "140213050001001").source == "none"  # not a community label
    assert dispatch_target(loop.other_cat, "140213", **local).source == "none"  # no street to tell
    rule = RoutingRule.objects.create(category=loop.other_cat, region_code="140213050", department=loop.other_dept)
    goal = dispatch_target(loop.other_cat, "140213050001001", **local)
    assert goal.source == "rule" and goal.department_id == loop.other_dept.pk and goal.route.rule == rule
    # a street without an active office: nothing to pre-fill, as before
    Organisation.objects.filter(pk=offices["140213051"].pk).update(is_active=False)
    assert dispatch_target(loop.other_cat, "140213051001001", **local).source == "none"


def test_the_live_panel_and_the_triage_list_name_the_street_office(loop, example_model, settings):
    versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    _offices(loop)
    point = {"lng": str(NEIGHBOUR_POINT[0]), "lat": str(NEIGHBOUR_POINT[1]), "crs": "wgs84"}
    html = _panel(loop.dispatcher, title="狗叫扰民", description=NEIGHBOURS, **point)
    routed = re.search(r"<p data-routed[^>]*>.*?</p>", html, re.S).group(0)
    assert "data-street-office" in routed and "<strong>新建南路街道办事处</strong>" in routed and "不自动派遣" in routed
    assert 'data-outlook="held"' in html and "登记后将自动派遣" not in html
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 1.5  # off: the report waits in the queue
    case = report(loop, title="狗叫扰民", description=NEIGHBOURS, category=loop.other_cat.pk)
    client = Client()
    client.force_login(loop.dispatcher)
    row = re.search(rf'<tr data-oid="{case.pk}">.*?</tr>', client.get(reverse("ui:router_triage")).content.decode(),
                    re.S).group(0)
    assert "社区事项：预选所在街道的 新建南路街道办事处" in row


@pytest.mark.parametrize(("score", "words"), [(1.0, "含该类名称或关键词"), (0.8, "大部分字词相同"), (0.4, "部分字词相同")])
def test_a_category_match_reads_as_what_was_found(score, words):
    from civicgrid.ui.pages.router import describe

    shown = describe({"categories": [{"id": 1, "name": "暴露垃圾", "score": score}]})
    assert shown["categories"][0]["match"] == words and "percent" not in shown["categories"][0]


def test_in_english_the_suggested_categories_read_as_english(loop, confident, client):
    """The case page's panel, the triage queue and the report form listed the categories with Chinese brackets
    and 、 between them in English too: "暴露垃圾 （contains its name or a keyword）、…"."""
    text = {"title": "垃圾", "description": "楼下暴露垃圾，还有积存垃圾渣土"}
    case = report(loop, actor=loop.dispatcher, source="hotline", category=None, hotline_ticket="12345-20261201-0099",
                  **text)
    assert len(case.suggestion["categories"]) > 1
    assert auto_dispatch(case.pk).startswith("triage")  # held for a person: in the triage queue
    client.force_login(loop.dispatcher)
    client.cookies["django_language"] = "en"
    pages = {
        "case": client.get(reverse("ui:case_detail", args=[case.number])).content.decode(),
        "triage": client.get(reverse("ui:router_triage"), {"all": "1"}).content.decode(),
    }
    form = Client()
    form.force_login(loop.worker)
    form.cookies["django_language"] = "en"
    pages["report form"] = form.get("/router/suggest/", text).content.decode()
    for name, html in pages.items():
        assert "data-suggested-categories" in html, name
        block = html[html.index("data-suggested-categories"):]
        block = block[:min(block.index(end) for end in ("</p>\n</div>", "</p></section>", "</td>", "</ul>") if end in block)]
        text = re.sub(r"<[^>]+>", "", block)
        assert re.search(r"\S \(contains its name or a keyword\)", text), (name, text)
        assert name == "report form" or ", " in text, (name, text)  # the form lists them, one a line
        assert not re.search("[（）、]", text), (name, text)
