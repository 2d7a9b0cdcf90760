"""Every audit action the code can record has a name for the audit administrator (audit.labels).

The codes come from reading the source (action_codes.scan: literal codes, constants, app wrappers such as
`f"hazards.{action}"`) and from the tables that build the dynamic ones (workflow transitions, plan kinds). A
new `record(action="x.y")`, a new verb passed to a wrapper, or a new transition without a name fails here;
so does a new way of building codes the test does not know (`DYNAMIC_FAMILIES`).
"""

import ast
from pathlib import Path

import pytest
from django.utils import translation

from civicgrid.foundation.audit import labels, verbs
from civicgrid.foundation.audit.tests.action_codes import CODE, ROOT, scan


def _case_transitions():
    from civicgrid.apps.cases.workflow import CASE_WORKFLOW

    return {f"cases.{t.name}" for t in CASE_WORKFLOW.transitions}


def _hazard_transitions():
    from civicgrid.apps.hazards.workflow import HAZARD_WORKFLOW

    return {f"hazards.{t.name}" for t in HAZARD_WORKFLOW.transitions}


def _hazard_plans():
    from civicgrid.apps.hazards.models import PlanKind

    return {f"hazards.plan_{kind}" for kind in PlanKind.values}


# Prefixes under which the source builds codes from a value known only at run time, and the codes that value
# can take. A wrapper called with a variable under a prefix missing here fails `test_every_dynamic_family_is_known`.
DYNAMIC_FAMILIES = {
    "cases.": _case_transitions,  # services.transitions.run: record(case, action=t.name)
    "hazards.": _hazard_transitions,  # services.loop.act, called with the transition's name (api, pages)
    "hazards.plan_": _hazard_plans,  # services.loop.save_plan(kind=…)
}


@pytest.fixture(scope="module")
def found():
    return scan()


def test_the_scan_finds_codes_of_every_shape(found):
    """Guard the scanner itself: one code of each shape it must read."""
    assert "rescue.team_created" in found.codes  # literal action="…"
    assert "open311.request_created" in found.codes  # AUDIT_* constant
    assert "system.restore" in found.codes  # constant imported from another module
    assert "flood.season_set" in found.codes  # positional verb to the app's wrapper
    assert "hazards.campaign_open" in found.codes  # a second wrapper in the same app
    assert "cases.merged_in" in found.codes  # keyword verb to a wrapper of a wrapper
    assert "cases." in found.dynamic and "hazards.plan_" in found.dynamic


def test_every_code_recorded_in_the_source_has_a_name(found):
    missing = {code: sorted(where) for code, where in found.codes.items() if not labels.is_named(code)}
    assert not missing, f"audit actions without a name; add them with audit.labels.name_actions: {missing}"


def test_every_dynamic_family_is_known(found):
    unknown = {prefix: sorted(where) for prefix, where in found.dynamic.items() if prefix not in DYNAMIC_FAMILIES}
    assert not unknown, f"codes built at run time under a new prefix: add it to DYNAMIC_FAMILIES: {unknown}"


@pytest.mark.parametrize("prefix", sorted(DYNAMIC_FAMILIES))
def test_every_code_of_a_dynamic_family_has_a_name(prefix):
    codes = DYNAMIC_FAMILIES[prefix]()
    assert codes and all(CODE.match(code) for code in codes)
    assert sorted(code for code in codes if not labels.is_named(code)) == []


def test_every_verb_of_the_foundation_catalogue_has_a_name():
    codes = {value for cls in vars(verbs).values() if isinstance(cls, type)
             for value in vars(cls).values() if isinstance(value, str) and CODE.match(value)}
    assert len(codes) > 25
    assert sorted(code for code in codes if not labels.is_named(code)) == []


def test_names_are_chinese_with_english_from_the_catalogue():
    with translation.override("zh-hans"):
        assert labels.action_name("cases.dispatch") == "派遣"
        assert labels.action_name("hazards.report_done") == "整改完成"
        assert labels.action_name("ops.task_rerun") == "重新运行后台任务"
    with translation.override("en"):
        assert labels.action_name("cases.dispatch") == "Dispatch"
        assert labels.action_name("auth.login") != "登录"
    assert labels.action_name("nobody.named_this") == "nobody.named_this"


def test_groups_follow_the_domains_and_hold_every_name():
    groups = labels.action_groups()
    prefixes = [g.prefix for g in groups]
    assert prefixes[:3] == ["auth.", "access.", "data."] and "cases." in prefixes
    assert sum(len(g.actions) for g in groups) == len(labels.named_codes())
    assert all(code.startswith(g.prefix) for g in groups for code, _ in g.actions)


def test_the_foundation_names_no_app_code():
    """Apps name their own codes; the foundation's registry module imports nothing from them."""
    source = Path(labels.__file__).read_text(encoding="utf-8")
    imported = [n.module or "" for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)]
    assert not any("apps" in m or "integrations" in m for m in imported)
    assert ROOT.name == "civicgrid"
