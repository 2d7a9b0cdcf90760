"""Text router (智能分拨): suggest the department/category of a report, versions of the model, the gazetteer.

`suggest(text, *, categories=True) -> dict | None` is what intake calls: the app registers it with
`civicgrid.apps.cases.suggesters`.
"""


def suggest(text: str, *, categories: bool = True):
    """The live model's suggestion (label, confidence, top3, model_version, department/category, and unless
    `categories` is False the subclasses the text matches), or None."""
    from .service import suggest as _suggest

    return _suggest(text, categories=categories)


def suggest_many(texts: list[str], *, categories: list[bool] | None = None):
    """`suggest` for each of `texts`, computed together (a batch of queued reports)."""
    from .service import suggest_many as _many

    return _many(texts, categories=categories)


def find_place(text: str):
    """Places named in a text (longest match first), with coordinates and the proposed grid."""
    from .gazetteer import find_place as _find

    return _find(text)


__all__ = ["find_place", "suggest", "suggest_many"]
