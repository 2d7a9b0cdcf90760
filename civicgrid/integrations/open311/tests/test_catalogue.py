"""Discovery, services and service definitions: the spec's shapes in XML and JSON, public categories only."""

from __future__ import annotations

import pytest

from civicgrid.integrations.open311.models import Datatype, ServiceAttribute

from .conftest import get, spec_error, xml

pytestmark = pytest.mark.django_db


def test_discovery_names_the_v2_endpoint_and_both_formats(o311, http):
    body = get(http, "discovery.json").json()
    endpoint = body["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert body["changeset"].endswith("+08:00") and body["contact"]
    root = xml(get(http, "discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


def test_services_are_the_public_subclasses_with_group_keywords_and_metadata(o311, http):
    items = get(http, "services.json").json()
    by_code = {s["service_code"]: s for s in items}
    assert set(by_code) == {"gb47678:matter:06001", "gb47678:matter:06002"}  # not the class, not private ones
    cat = by_code["gb47678:matter:06001"]
    assert cat == {
        "service_code": "gb47678:matter:06001", "service_name": "暴露垃圾",
        "description": "公共区域垃圾裸露堆放。（处置时限 4 工作小时）", "metadata": True, "type": "realtime",
        "keywords": "垃圾,暴露垃圾,堆放", "group": "市容环境类",
    }
    assert by_code["gb47678:matter:06002"]["metadata"] is False
    root = xml(get(http, "services.xml"))
    assert root.tag == "services" and len(root.findall("service")) == 2
    first = root.find("service")
    assert first.find("metadata").text == "true" and first.find("group").text == "市容环境类"


def test_a_class_without_subclasses_is_a_service_of_its_own(o311, http):
    from civicgrid.apps.categories.models import Category

    Category.objects.create(taxonomy=o311.cls.taxonomy, code="10", name="其他事项类", kind="matter", is_public=True)
    codes = {s["service_code"] for s in get(http, "services.json").json()}
    assert "gb47678:matter:10" in codes and "gb47678:matter:06" not in codes


def test_an_attribute_on_the_class_or_for_every_service_sets_metadata(o311, http):
    ServiceAttribute.objects.create(category=None, code="note", datatype=Datatype.STRING, description="补充说明")
    assert all(s["metadata"] for s in get(http, "services.json").json())


def test_service_definition_lists_the_attributes_in_the_spec_shape(o311, http):
    body = get(http, f"services/{o311.code()}.json").json()
    assert body == {
        "service_code": "gb47678:matter:06001",
        "attributes": [{
            "variable": True, "code": "affects_traffic", "datatype": "singlevaluelist", "required": False,
            "datatype_description": "", "order": 1, "description": "是否影响通行",
            "values": [{"key": "yes", "name": "是"}, {"key": "no", "name": "否"}],
        }],
    }
    root = xml(get(http, f"services/{o311.code()}.xml"))
    assert root.tag == "service_definition"
    assert [v.find("key").text for v in root.findall("attributes/attribute/values/value")] == ["yes", "no"]


def test_the_singular_service_path_answers_the_same(o311, http):
    assert get(http, f"service/{o311.code()}.json").json() == get(http, f"services/{o311.code()}.json").json()


def test_a_subclass_question_replaces_the_class_question_of_the_same_code(o311, http):
    ServiceAttribute.objects.create(category=o311.cls, code="affects_traffic", datatype=Datatype.STRING,
                                    description="class version")
    ServiceAttribute.objects.create(category=o311.cls, code="size", datatype=Datatype.NUMBER, description="面积",
                                    order=2, required=True)
    own = get(http, f"services/{o311.code()}.json").json()["attributes"]
    assert [(a["code"], a["description"]) for a in own] == [("affects_traffic", "是否影响通行"), ("size", "面积")]
    sibling = get(http, f"services/{o311.code(o311.plain)}.json").json()["attributes"]
    assert [(a["code"], a["description"]) for a in sibling] == [("affects_traffic", "class version"), ("size", "面积")]


@pytest.mark.parametrize("code", ["social:event:0501", "gb47678:matter:99999", "nonsense", "gb47678:matter:06"])
def test_unknown_or_private_services_are_404_in_the_spec_format(o311, http, code):
    assert "service_code" in spec_error(get(http, f"services/{code}.json"), 404)
    assert "service_code" in spec_error(get(http, f"services/{code}.xml"), 404)


def test_an_unsupported_format_is_refused_in_xml(o311, http):
    assert "json" in spec_error(get(http, "services.html"), 400)


def test_jurisdiction_id_is_checked(o311, http):
    assert get(http, "services.json", jurisdiction_id="140213").status_code == 200
    assert "jurisdiction_id" in spec_error(get(http, "services.json", jurisdiction_id="chicago.gov"), 404)


def test_a_wrong_api_key_is_refused_even_where_none_is_needed(o311, http):
    spec_error(get(http, "services.xml", api_key="wrong"), 403)
    assert get(http, "services.xml", api_key="test-open311-key-0123456789").status_code == 200


def test_other_methods_are_refused(o311, http):
    response = http.delete("/open311/v2/services.json")
    spec_error(response, 405)
    assert "GET" in response["Allow"]


def test_reports_may_reuse_a_checked_service_for_a_while(o311, http):
    from django.test import override_settings

    from civicgrid.integrations.open311 import catalogue

    catalogue._cache.clear()
    with override_settings(CIVICGRID_OPEN311_CATALOGUE_SECONDS=60):
        category, asked = catalogue.checked_service(o311.code())
        o311.attr.delete()
        assert catalogue.checked_service(o311.code())[1] == asked  # reused within the time
        assert get(http, f"services/{o311.code()}.json").json()["attributes"] == []  # listings read afresh
    catalogue._cache.clear()
    assert catalogue.checked_service(o311.code())[1] == []


def test_the_benchmark_baseline_is_not_mounted(o311, http):
    assert http.post("/open311/v2/_bench/insert", {"description": "x"}).status_code == 404


def test_any_other_path_is_a_404_in_the_spec_format(o311, http):
    spec_error(get(http, "nothing/here.json"), 404)
    spec_error(get(http, "services"), 404)
