"""Every inbox title the code sends opens with registered words, and every registered opening has its English:
a title cannot stay Chinese in the English inbox unnoticed.

The call sites are found by reading the source (every call of `notify`, `notify_many` and of the apps' wrappers
around them), not by running them, so a sender no test exercises is checked too. A title built from data
before its "：" (f"{label}已超期") cannot be read off the source: its possible openings are listed in `BUILT`
from the same constants the code uses, and a new such call site fails the test until it is listed.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.notify import services, titles
from civicgrid.foundation.notify.models import Notification
from civicgrid.testing.builders import user_with

ROOT = Path(settings.BASE_DIR)
# The senders and where their title is: positional index, or the keyword `title`.
SENDERS = {"notify": 2, "notify_many": 2}
# The apps' wrappers, which add "：<which>" themselves: their title argument is the opening itself.
WRAPPERS = {"tell_staff": 3, "_tell": 1}


def _built() -> dict[tuple[str, str], set[str]]:
    """The openings of the titles built from data, by (module, function), from the constants the code uses."""
    from civicgrid.apps.cases.handlers import KIND_LABELS
    from civicgrid.apps.cases.services.actions_handling import DECISIONS
    from civicgrid.apps.cases.services.actions_intake import CHECK_RESULTS
    from civicgrid.apps.flood.handlers import LABELS

    return {
        ("civicgrid.apps.cases.handlers", "on_sla_warning"): {f"{k}即将超期" for k in KIND_LABELS.values()},
        ("civicgrid.apps.cases.handlers", "on_sla_breached"):
            {f"{k}已超期" for k in KIND_LABELS.values()} | {f"超期自动督办（{k}）" for k in KIND_LABELS.values()},
        ("civicgrid.apps.cases.services.actions_intake", "check_result"): {f"核实{r}" for r in CHECK_RESULTS.values()},
        ("civicgrid.apps.cases.services.actions_handling", "decide_extension"):
            {f"延期申请{d}" for d in DECISIONS.values()},
        ("civicgrid.apps.flood.handlers", "on_warning"): {f"防汛任务即将超时（{k}）" for k in LABELS.values()},
        ("civicgrid.apps.flood.handlers", "on_breached"):
            {f"防汛任务已超时（{k}）" for k in LABELS.values()} | {f"防汛任务超时未{k}" for k in LABELS.values()},
        ("civicgrid.apps.flood.services.response", "tell_water_alarm"): {"超保证水位", "超警戒水位"},
        ("civicgrid.apps.materials.services.alerts", "notify_expiring"): {"物资已过期", "物资即将过期"},
    }


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _title_arg(call: ast.Call, index: int) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "title":
            return keyword.value
    return call.args[index] if len(call.args) > index else None


def _assigned(function: ast.AST, name: str) -> ast.expr | None:
    """The value last assigned to `name` in the function (a title built a line before the call)."""
    found = None
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            found = node.value
    return found


def _opening(node: ast.expr, *, whole: bool) -> str | None:
    """The words a title expression opens with, when the source fixes them; `whole`: the expression is the
    opening itself (a wrapper's argument)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if whole else (titles.words_of(node.value) or "")
    if isinstance(node, ast.JoinedStr):
        if not whole and not any(isinstance(p, ast.Constant) and titles.SEPARATOR in p.value for p in node.values):
            return ""  # data throughout: shown as written
        text = ""
        for part in node.values:
            if not isinstance(part, ast.Constant):
                return None if whole or titles.SEPARATOR not in text else titles.words_of(text)
            text += part.value
        return text if whole else (titles.words_of(text) or "")
    return None


def _call_sites():
    """(module, function, opening or None, line) for every title the code sends, outside tests and migrations."""
    sites = []
    for path in sorted((ROOT / "civicgrid").rglob("*.py")):
        if {"tests", "migrations"} & set(path.parts):
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for call in [n for n in ast.walk(function) if isinstance(n, ast.Call)]:
                name = _name(call.func)
                if module == "civicgrid.foundation.notify.services" or function.name in WRAPPERS:
                    continue  # the senders and wrappers themselves: their callers are checked
                if name in SENDERS:
                    arg, whole = _title_arg(call, SENDERS[name]), False
                elif name in WRAPPERS:
                    arg, whole = _title_arg(call, WRAPPERS[name]), True
                else:
                    continue
                if isinstance(arg, ast.Name):
                    arg = _assigned(function, arg.id) or arg
                opening = _opening(arg, whole=whole) if arg is not None else None
                sites.append((module, function.name, opening, call.lineno))
    return sites


@pytest.fixture(scope="module")
def sites():
    found = _call_sites()
    for module in {m for m, *_ in found}:
        importlib.import_module(module)  # the modules that send register their titles on import
    return found


def test_every_title_the_code_sends_opens_with_registered_words(sites):
    assert len(sites) >= 20  # the scan found the senders (cases, flood, materials, rescue)
    assert {m.split(".")[2] for m, *_ in sites} >= {"cases", "flood", "materials", "rescue"}
    built = _built()
    unlisted = [(m, f, line) for m, f, opening, line in sites if opening is None and (m, f) not in built]
    assert not unlisted, f"titles built from data: list their openings in BUILT: {unlisted}"
    assert {(m, f) for m, f, opening, _ in sites if opening is None} == set(built)  # no stale entry
    sent = {opening for *_, opening, _line in sites if opening} | set().union(*built.values())
    missing = sorted(sent - titles.registered())
    assert not missing, f"register these with titles.register(gettext_noop(...)) in the sending app: {missing}"


def test_every_registered_title_has_its_english(sites):
    assert titles.registered()
    with translation.override("en"):
        untranslated = sorted(w for w in titles.registered() if translation.gettext(w) == w)
    assert not untranslated, f"no English in the catalogue for: {untranslated}"


@pytest.mark.django_db
def test_a_title_with_unregistered_words_is_refused_and_nothing_is_written(tree):
    user = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    with pytest.raises(titles.UnregisteredTitle):
        services.notify(user, "note", "没有登记的标题：其他")
    with pytest.raises(titles.UnregisteredTitle):
        services.notify_many([], "note", "没有登记的标题：其他")
    assert not Notification.objects.exists()
    # A title that is data throughout (no "：") needs nothing: it is shown as written.
    assert services.notify(user, "note", "一条说明") is not None
