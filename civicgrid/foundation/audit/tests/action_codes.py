"""The audit action codes the source passes to the audit trail, found by reading it (not by running it).

Three shapes are found:
- a literal code as the `action` argument of any call: ``record(actor=…, action="rescue.team_created")``;
- a module constant passed as `action` (``action=AUDIT_REQUEST``, ``action=verbs.Data.CREATED``) or named
  ``AUDIT_*`` / holding a code next to such a call;
- an app's wrapper that builds the code from a prefix and its own argument (``f"hazards.{action}"``,
  ``AUDIT_PREFIX + action``): every call of that wrapper in the same package with a literal verb
  (``record(actor, "season_set", row)``) gives ``flood.season_set``; f-strings (``f"plan_{kind}"``) and
  variables are reported as dynamic families, which the test checks by their own tables.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import civicgrid

ROOT = Path(civicgrid.__file__).parent
CODE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass
class Found:
    """What the scan found: codes with where they were seen, and the wrappers' dynamic calls."""

    codes: dict[str, set[str]] = field(default_factory=dict)  # code → {"path:line"}
    dynamic: dict[str, set[str]] = field(default_factory=dict)  # prefix → {"path:line"} of non-literal verbs
    wrappers: dict[str, dict[str, tuple[str, int, str]]] = field(default_factory=dict)  # package → name → …

    def add(self, code: str, where: str) -> None:
        self.codes.setdefault(code, set()).add(where)


def source_files():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if "tests" in parts or "migrations" in parts or parts[0] in ("testing", "locale"):
            continue
        yield path


def _package(path: Path) -> str:
    """The app a module belongs to (civicgrid/apps/hazards/…, civicgrid/foundation/audit/…)."""
    parts = path.relative_to(ROOT).parts
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def _constants(tree: ast.Module, verbs: dict[str, str]) -> dict[str, str]:
    """The module's string constants (`BACKUP = verbs.System.BACKUP` counts as one)."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            values = _strings(node.value, {}, verbs)
            for target in node.targets:
                if isinstance(target, ast.Name) and values and len(values) == 1:
                    out[target.id] = values[0]
    return out


def _verbs() -> dict[str, str]:
    from civicgrid.foundation.audit import verbs

    return {f"{group}.{name}": value for group, cls in vars(verbs).items() if isinstance(cls, type)
            for name, value in vars(cls).items() if isinstance(value, str) and CODE.match(value)}


def _strings(node, constants: dict[str, str], verbs: dict[str, str]) -> list[str] | None:
    """The string values an expression can take, or None when it is not a constant one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        a, b = _strings(node.body, constants, verbs), _strings(node.orelse, constants, verbs)
        return a + b if a is not None and b is not None else None
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.Attribute):
        dotted = ast.unparse(node)
        for key, value in verbs.items():
            if dotted.endswith(key):
                return [value]
    return None


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _action_arg(node: ast.Call, position: int | None = None, name: str = "action"):
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value
    if position is not None and len(node.args) > position:
        return node.args[position]
    return None


def _wrapper_prefix(value, params: list[str], constants: dict[str, str]) -> tuple[str, str] | None:
    """(prefix, parameter) when `value` is f"<prefix>{param}" or PREFIX + param."""
    if isinstance(value, ast.JoinedStr) and len(value.values) == 2:
        head, tail = value.values
        if (isinstance(head, ast.Constant) and isinstance(tail, ast.FormattedValue)
                and isinstance(tail.value, ast.Name) and tail.value.id in params):
            return head.value, tail.value.id
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add) and isinstance(value.right, ast.Name):
        head = _strings(value.left, constants, {})
        if head and value.right.id in params:
            return head[0], value.right.id
    return None


def scan() -> Found:
    found = Found()
    verbs = _verbs()
    modules = []
    for path in source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        modules.append((path, tree, _constants(tree, verbs)))

    # Constants imported from another module (`from .backup import RESTORE`) are looked up by name.
    shared: dict[str, set[str]] = {}
    for _, _, constants in modules:
        for name, value in constants.items():
            if CODE.match(value):
                shared.setdefault(name, set()).add(value)
    shared_codes = {name: values.pop() for name, values in shared.items() if len(values) == 1}

    # 1. Wrappers: functions that build the code from a prefix and one of their parameters; then, to a fixed
    # point, functions of the same package that hand their parameter on to a wrapper.
    building: set[tuple[Path, int]] = set()  # the calls inside the wrappers, which build the code
    verb_prefixed = []  # wrappers that pass f"plan_{kind}" to another wrapper: prefixes compose
    for path, tree, constants in modules:
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
            for call in ast.walk(fn):
                if isinstance(call, ast.Call):
                    built = _wrapper_prefix(_action_arg(call), params, constants)
                    if built:
                        prefix, param = built
                        building.add((path, call.lineno))
                        found.wrappers.setdefault(_package(path), {})[fn.name] = (prefix, params.index(param), param)
                        if "." not in prefix:
                            verb_prefixed.append((_package(path), fn.name, _callee(call)))
    for package, name, callee in verb_prefixed:
        wrappers = found.wrappers[package]
        if callee in wrappers and callee != name:
            prefix, position, param = wrappers[name]
            wrappers[name] = (wrappers[callee][0] + prefix, position, param)
    changed = True
    while changed:
        changed = False
        for path, tree, _ in modules:
            wrappers = found.wrappers.get(_package(path), {})
            for fn in ast.walk(tree):
                if not isinstance(fn, ast.FunctionDef) or fn.name in wrappers:
                    continue
                params = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
                for call in ast.walk(fn):
                    if isinstance(call, ast.Call) and _callee(call) in wrappers:
                        prefix, position, name = wrappers[_callee(call)]
                        arg = _action_arg(call, position, name)
                        if isinstance(arg, ast.Name) and arg.id in params:
                            wrappers[fn.name] = (prefix, params.index(arg.id), arg.id)
                            changed = True

    # 2. Codes: literal or constant `action` arguments, constants named AUDIT_*, and the wrappers' verbs.
    for path, tree, local in modules:
        constants = {**shared_codes, **local}
        where = str(path.relative_to(ROOT.parent))
        wrappers = found.wrappers.get(_package(path), {})
        for name, value in local.items():
            if name.startswith("AUDIT_") and CODE.match(value):
                found.add(value, f"{where} {name}")
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            callee = _callee(call)
            if (path, call.lineno) in building:
                continue
            if callee in wrappers:
                prefix, position, name = wrappers[callee]
                arg = _action_arg(call, position, name)
                values = _strings(arg, constants, verbs) if arg is not None else None
                if values is not None:
                    for value in values:
                        found.add(value if CODE.match(value) else prefix + value, f"{where}:{call.lineno}")
                elif arg is not None and not (isinstance(arg, ast.Name) and arg.id == name):
                    found.dynamic.setdefault(prefix, set()).add(f"{where}:{call.lineno} {ast.unparse(arg)}")
                continue
            arg = _action_arg(call)
            values = _strings(arg, constants, verbs) if arg is not None else None
            for value in values or ():
                if CODE.match(value):
                    found.add(value, f"{where}:{call.lineno}")
    return found
