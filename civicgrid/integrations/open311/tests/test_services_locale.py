"""GET services speaks Chinese; `locale=en` asks for the categories' English names where they have one (the
service code, description and keywords stay as they are)."""

from __future__ import annotations

import pytest

from .conftest import get

pytestmark = pytest.mark.django_db


def _names(response) -> dict[str, tuple[str, str]]:
    assert response.status_code == 200
    return {s["service_code"]: (s["service_name"], s["group"]) for s in response.json()}


def test_services_in_english_only_when_asked(o311, http):
    o311.cat.name_en = "Exposed garbage"
    o311.cat.save()
    o311.cls.name_en = "City appearance and environment"
    o311.cls.save()
    chinese = _names(get(http, "services.json"))
    assert chinese[o311.code()] == ("暴露垃圾", "市容环境类")
    http.cookies["django_language"] = "en"  # the site's language switch does not change the feed
    assert _names(get(http, "services.json")) == chinese
    for locale in ("en", "en-US", "en_GB"):
        english = _names(get(http, "services.json", locale=locale))
        assert english[o311.code()] == ("Exposed garbage", "City appearance and environment")
        assert english[o311.code(o311.plain)] == ("积存垃圾渣土", "City appearance and environment")  # none: Chinese
    assert _names(get(http, "services.json", locale="zh-CN")) == chinese
    english = get(http, "services.json", locale="en").json()
    assert {s["description"] for s in english} == {s["description"] for s in get(http, "services.json").json()}
