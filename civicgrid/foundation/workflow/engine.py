"""Transition tables: one declaration drives the API's checks and the buttons a page shows.

A workflow is a list of transitions. Each names the states it starts from, the state it leads to (or None for
actions that keep the state, such as adding a progress note), the capability the actor needs, an optional
extra guard on who acts (e.g. "only the reporter", "only the case's department"), an optional condition on
the object beyond its status (`when`, e.g. "an extension request is waiting": unmet, it is the object's state
that refuses, a 409, not the actor's role), and the inputs it requires (`requires`, and `requires_of` for those
that depend on the object).
`allowed(obj, user)` lists what a user may do now; `check(obj, user, name)` raises the right error otherwise.
Where a service also asks whether the grant for the transition's capability reaches the object (a scoped model's
`capabilities_in_scope`), its buttons ask `allowed_in_scope(obj, user)`, the same question in one query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.utils import translation
from django.utils.translation import pgettext

from ..access.scope import has_capability
from ..core.errors import Conflict, PermissionDenied, ValidationFailed

Guard = Callable[[object, object], bool]
Condition = Callable[[object], bool]


@dataclass(frozen=True)
class Transition:
    """One action of a workflow."""

    name: str
    label: str  # Chinese label; translated in templates
    sources: frozenset[str]
    target: str | None
    capability: str
    guard: Guard | None = None
    when: Condition | None = None  # a condition on the object beyond its status
    # What `when` asks, as the refusal says it ("中文 / English"), or a function of the object that says it
    # (a condition whose wording names a configured value).
    when_label: str | Callable[[object], str] = ""
    requires: tuple[str, ...] = ()  # input fields that must be non-empty (e.g. "reason")
    # Inputs this object also needs, beyond `requires` (e.g. a category, for a case reported without one).
    requires_of: Callable[[object], tuple[str, ...]] | None = None
    style: str = "default"  # "primary" | "danger" | "default": how a page draws the button
    order: int = 100


@dataclass
class Workflow:
    """A named set of transitions over a model's `status` field."""

    name: str
    states: dict[str, str]  # value → Chinese label
    transitions: list[Transition] = field(default_factory=list)
    status_field: str = "status"

    def __post_init__(self):
        names = [t.name for t in self.transitions]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate transition names in workflow {self.name}")
        for t in self.transitions:
            unknown = (set(t.sources) | ({t.target} if t.target else set())) - set(self.states)
            if unknown:
                raise ValueError(f"transition {t.name} uses unknown states {sorted(unknown)}")

    def transition(self, name: str) -> Transition:
        for t in self.transitions:
            if t.name == name:
                return t
        raise ValidationFailed(f"未知操作：{name} / unknown action", field="action")

    def state_of(self, obj) -> str:
        return getattr(obj, self.status_field)

    def allowed(self, obj, user) -> list[Transition]:
        """The transitions this user may take on this object now, in display order."""
        state = self.state_of(obj)
        result = []
        for t in self.transitions:
            if (state in t.sources and (t.when is None or t.when(obj)) and has_capability(user, t.capability)
                    and (t.guard is None or t.guard(obj, user))):
                result.append(t)
        return sorted(result, key=lambda t: (t.order, t.name))

    def allowed_in_scope(self, obj, user, *, reach: set[str] | None = None) -> list[Transition]:
        """What a service that also checks the grant's reach accepts from this user now, inputs aside: `allowed`
        (state, role, guard, condition), keeping the transitions whose capability's grant reaches the object
        (`ScopedModel.capabilities_in_scope`: one query for them all). The buttons and the API's lists ask this.
        `reach`: the capabilities already found in reach, when a page asked for them with others of its own."""
        found = self.allowed(obj, user)
        if reach is None:
            reach = obj.capabilities_in_scope(user, {t.capability for t in found}) if found else set()
        return [t for t in found if t.capability in reach]

    def check(self, obj, user, name: str, inputs: dict | None = None) -> Transition:
        """Return the transition if the user may take it now; raise a clear error otherwise: 403 for a role that
        never takes it (whatever the state), 409 for one that may but not in this state or condition, 403 for
        one its guard excludes here (not its department …), then 400 for missing inputs."""
        t = self.transition(name)
        if not has_capability(user, t.capability):
            raise PermissionDenied(f"您无权执行「{t.label}」 / your role may not \"{english(t)}\" here")
        state = self.state_of(obj)
        if state not in t.sources:
            label = self.states.get(state, state)
            raise Conflict(f"当前状态「{label}」不能执行「{t.label}」 / \"{english(t)}\" is not possible while it is "
                           f"{state.replace('_', ' ')}")
        if t.when is not None and not t.when(obj):
            zh, _, en = _condition_label(t, obj).partition(" / ")
            raise Conflict(f"现在不能执行「{t.label}」：{zh} / \"{english(t)}\" is not possible now: {en or zh}")
        if t.guard is not None and not t.guard(obj, user):
            raise PermissionDenied(f"您无权执行「{t.label}」 / your role may not \"{english(t)}\" here")
        missing = [f for f in required_inputs(t, obj) if _blank((inputs or {}).get(f))]
        if missing:
            raise ValidationFailed(f"「{t.label}」须填写：{'、'.join(missing)} / required: {', '.join(missing)}",
                                   field=missing[0])
        return t

    def held_by_condition(self, obj, user, name: str) -> str:
        """Why the user may not take `name` now when its condition alone keeps it away (state, role and guard
        would let them): the condition's bilingual label, as `check` refuses it; "" otherwise."""
        t = self.transition(name)
        if (self.state_of(obj) not in t.sources or t.when is None or t.when(obj)
                or not has_capability(user, t.capability) or (t.guard is not None and not t.guard(obj, user))):
            return ""
        return _condition_label(t, obj)

    def reachable(self) -> dict[str, set[str]]:
        """State → states reachable in one step (for documentation and tests)."""
        graph: dict[str, set[str]] = {s: set() for s in self.states}
        for t in self.transitions:
            for s in t.sources:
                if t.target:
                    graph[s].add(t.target)
        return graph


def english(t: Transition) -> str:
    """The action's English name for the English half of a refusal (the catalogue's "action" context), or its
    code where the catalogue has none."""
    with translation.override("en"):
        text = str(pgettext("action", t.label))
    return text if text != t.label else t.name.replace("_", " ")


def _condition_label(t: Transition, obj) -> str:
    """What `t`'s unmet condition says (bilingual), or a neutral default."""
    label = t.when_label(obj) if callable(t.when_label) else t.when_label
    return label or "条件不满足 / its condition is not met"


def required_inputs(t: Transition, obj) -> tuple[str, ...]:
    """The inputs `t` needs on this object: its `requires`, then what `requires_of` adds for it."""
    extra = t.requires_of(obj) if t.requires_of is not None else ()
    return (*t.requires, *(f for f in extra if f not in t.requires))


def _blank(value) -> bool:
    """An input that was not given: None, blank text, an empty list (of photos). A zero is a value."""
    if value is None or value is False:
        return True
    if isinstance(value, list | tuple | set | frozenset | dict):
        return not value
    return not str(value).strip()


def states_where(workflow: Workflow, names: Iterable[str]) -> set[str]:
    """States from which any of the named transitions start."""
    wanted = set(names)
    return {s for t in workflow.transitions if t.name in wanted for s in t.sources}
