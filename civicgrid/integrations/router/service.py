"""`suggest(text)`: the live router model's proposal for a report, with what its labels mean in this district.

The active :class:`~civicgrid.integrations.router.models.RouterModelVersion` is loaded once per process and
kept while its id and the mtimes of its files are unchanged (activating another version, or retraining into
the same directory, is picked up at the next call). No active model, or missing files: ``None`` — intake works
without a router.

    {"label": "区城管局", "confidence": 0.93, "top3": [{"label", "confidence", "department_id", …}, …],
     "model_version": "20261129-050102-a1b2c3", "label_kind": "department",
     "department_id": 7, "department": "区城管局", "category_id": None, "category": None, "local": False,
     "categories": [{"id": 812, "name": "路灯异常", "path": "市政公用设施类 › 路灯异常", "score": 1.0}, …]}

`department_id` is only ever an organisation a case can be dispatched to (`orgs.handles_cases`: the dispatch
form's list). A label naming a 社区/村委会, a property company or such (社区居委会, 物业) maps to no department and
is marked `local`: the pages say 建议由社区处理, the dispatch form starts from the street office of the case's
street (`categories.dispatch_target`), and auto-dispatch never acts on it. `category_id` is the category
the model's label names (a model trained on categories); `categories` are the subclasses whose own words the
text matches (`categories.matching`), whatever the model learnt: the choice the 立案 form starts from.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from . import model as router_model
from .textnorm import to_simplified

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_LOADED: dict = {"key": None, "model": None, "targets": {}}


def clear_cache() -> None:
    from civicgrid.apps.categories import matching

    matching.clear_cache()
    with _LOCK:
        _LOADED.update(key=None, model=None, targets={}, answer=None, until=0.0)


def _key(v) -> tuple:
    d = Path(v.path)
    try:
        stamp = tuple(os.stat(d / name).st_mtime_ns for name in
                      (router_model.META_FILE, router_model.WEIGHTS_FILE, router_model.VOCAB_FILE))
    except OSError:
        stamp = None
    return (v.pk, v.path, stamp)


def _recheck_seconds() -> float:
    from django.conf import settings

    default = 0.0 if getattr(settings, "TESTING", False) else 2.0
    return float(getattr(settings, "CIVICGRID_ROUTER_RECHECK_SECONDS", default))


def _active_model():
    """(version, model, label → target map) of the live model, or None. Every report asks: the answer is
    kept for `CIVICGRID_ROUTER_RECHECK_SECONDS` (2 s; 0 under tests) before the database and the files are
    looked at again, so activating another version reaches every process within that time."""
    now = time.monotonic()
    with _LOCK:
        if _LOADED.get("until", 0.0) > now:
            return _LOADED["answer"]
    answer = _lookup_active_model()
    with _LOCK:
        _LOADED.update(answer=answer, until=now + _recheck_seconds())
    return answer


def _lookup_active_model():
    from .models import RouterModelVersion

    v = RouterModelVersion.objects.filter(is_active=True).order_by("-activated_at", "-id").first()
    if v is None:
        return None
    key = _key(v)
    if key[2] is None:
        log.warning("active router model %s has no files at %s", v.version, v.path)
        return None
    with _LOCK:
        if _LOADED["key"] == key:
            return v, _LOADED["model"], _LOADED["targets"]
    model = router_model.load(v.path)
    targets = {label: resolve_label(label, v.label_kind) for label in model.labels}
    with _LOCK:
        _LOADED.update(key=key, model=model, targets=targets)
    return v, model, targets


def _norm(s: str) -> str:
    return "".join(str(s or "").split()).lower()


# Labels for the level below the district's departments: committees and property companies, reached through
# their street office (`orgs.CASE_HANDLING_KINDS`), never dispatched to.
LOCAL_WORDS = ("社区", "居委会", "村委会", "居民委员会", "村民委员会", "物业", "业委会")


def resolve_label(label: str, kind: str = "auto") -> dict:
    """What a model label means here: a department a case can be dispatched to (by name, short name or code)
    and/or a category (by name or code). A label naming an organisation that does not take cases (a committee,
    a property company) or a community in general is `local`: no department. Unknown labels map to nothing (the
    suggestion still shows the label text)."""
    from civicgrid.apps.categories.models import Category, in_use_q
    from civicgrid.foundation.orgs.models import Organisation, handles_cases

    out = {"department_id": None, "department": None, "category_id": None, "category": None, "local": False}
    key = _norm(label)
    if kind in ("auto", "department"):
        orgs = Organisation.objects.filter(is_active=True).only("pk", "name", "short_name", "code", "kind")
        for field in ("name", "short_name", "code"):
            hit = next((o for o in orgs if _norm(getattr(o, field)) == key and key), None)
            if hit is not None:
                if handles_cases(hit):
                    out.update(department_id=hit.pk, department=hit.name)
                else:
                    out["local"] = True
                break
        else:
            out["local"] = any(word in key for word in LOCAL_WORDS)
    if kind in ("auto", "category") and out["department_id"] is None:
        cats = Category.objects.filter(in_use_q()).select_related("default_department")
        hit = next((c for c in cats if key and _norm(c.name) == key), None) or \
            next((c for c in cats if key and _norm(c.code) == key), None)
        if hit is not None:
            out.update(category_id=hit.pk, category=hit.name, local=False)
            if hit.default_department_id and handles_cases(hit.default_department):
                out.update(department_id=hit.default_department_id, department=hit.default_department.name)
    return out


def suggest(text: str, *, categories: bool = True) -> dict | None:
    """The live model's suggestion for a report's text (title and description), or None without a model.
    `categories=False` leaves out the subclasses the text matches (`categories` is None): intake asks so for
    a report filed under a subclass, and the pages that show them match the case's text then
    (`with_categories`)."""
    loaded = _active_model()
    if loaded is None:
        return None
    v, model, targets = loaded
    text = str(text or "")
    return _shape(model.predict_one(text), v, targets, _matches([text])[0] if categories else None)


def suggest_many(texts: list[str], *, categories: list[bool] | None = None) -> list[dict | None]:
    """`suggest` for a batch of texts (queued reports), with one matrix product for all of them; `categories`,
    when given, says for each text whether to match it against the subclasses (as `suggest`'s)."""
    loaded = _active_model()
    if loaded is None or not texts:
        return [None] * len(texts)
    v, model, targets = loaded
    texts = [str(t or "") for t in texts]
    wanted = list(categories) if categories is not None else [True] * len(texts)
    if len(wanted) != len(texts):
        raise ValueError("one categories flag per text")
    matches = iter(_matches([t for t, w in zip(texts, wanted, strict=True) if w]))
    return [_shape(pred, v, targets, next(matches) if w else None)
            for pred, w in zip(model.predict(texts), wanted, strict=True)]


def _matches(texts: list[str]) -> list[list[dict]]:
    """The subclasses each text matches (`categories.matching`), from one look at the categories."""
    from civicgrid.apps.categories import matching

    asked = [to_simplified(t) for t in texts if t.strip()]
    found = iter(matching.suggest_many(asked, recheck_seconds=_recheck_seconds()))
    return [next(found) if t.strip() else [] for t in texts]


def case_text(case) -> str:
    """The text intake suggests from: the report's title and description."""
    return f"{case.title} {case.description}"


def with_categories(items: list[tuple[dict | None, str]]) -> list[dict | None]:
    """Each `(suggestion, text)` as the pages and the triage API show it: the suggestion with the subclasses
    its text matches, as stored, or matched now where intake left them out (`categories` None: the report came
    under a subclass, so nothing at intake needed them). One look at the categories for the lot; a suggestion
    without the key (made before matching existed) is shown as it is."""
    todo = [i for i, (s, _text) in enumerate(items) if s and "categories" in s and s["categories"] is None]
    out = [s for s, _text in items]
    for i, found in zip(todo, _matches([str(items[i][1] or "") for i in todo]), strict=True):
        out[i] = {**items[i][0], "categories": found}
    return out


def _shape(pred, v, targets, categories: list[dict] | None) -> dict:
    top3 = [{"label": lab, "confidence": round(float(conf), 4), **targets.get(lab, {})} for lab, conf in pred.top3]
    return {
        "label": pred.label,
        "confidence": round(float(pred.confidence), 4),
        "top3": top3,
        "model_version": v.version,
        "label_kind": v.label_kind,
        **targets.get(pred.label, {}),
        "categories": categories,
    }
