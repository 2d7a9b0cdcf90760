"""The category suggestion put 校园周边治安隐患 first on reports about schools of any kind (fees, teachers, a new
campus): its keyword 学校 names a place, not a problem, and every report about a school names it. A place is now no
evidence by itself (`matching.PLACE_WORDS`): a keyword that is only a place never suggests its subclass, a place
in a name counts only with the rest of the name, and with the problem in the text the place still picks its
subclass. The same holds for the places a district may add as keywords (小区, 医院, 公司, 村里).

Every text here is made up for the test."""

from __future__ import annotations

import pytest

from civicgrid.apps.categories import loaders, matching
from civicgrid.apps.categories.models import Category, Taxonomy


def _shipped() -> matching.Index:
    """The subclasses the product ships, as the benchmark and the loaders read them."""
    specs = loaders.gbt_specs() + loaders.social_specs()
    classes = {(s.kind, s.code): s.name for s in specs if not s.parent_code}
    return matching.Index([
        matching.Row(i, s.name, f"{classes.get((s.kind, s.parent_code), '')} › {s.name}", s.keywords,
                     classes.get((s.kind, s.parent_code), ""), s.acceptance)
        for i, s in enumerate(specs) if s.parent_code])


def _names(index: matching.Index, text: str) -> list[str]:
    return [index.rows[pk].name for pk, _score in index.rank(text)]


@pytest.fixture(scope="module")
def shipped() -> matching.Index:
    return _shipped()


@pytest.mark.parametrize("text", [
    "孩子学校这学期又要交一笔资料费，家长们意见很大",
    "学校食堂的饭菜越来越贵，学生吃不饱",
    "听说学校明年要搬到新校区，离家太远了",
    "学校门口天天堵车，接送孩子要排很久",
])
def test_a_school_named_in_a_report_about_something_else_suggests_no_school_security(shipped, text):
    assert "校园周边治安隐患" not in _names(shipped, text)


def test_a_school_security_report_still_gets_the_school_subclass_first(shipped):
    top = shipped.rank("学校门口经常有社会青年聚集打架，治安隐患很大")
    assert shipped.rows[top[0][0]].name == "校园周边治安隐患"
    # without the place it is the class's general type that fits, not the school's
    assert "校园周边治安隐患" != _names(shipped, "这条街晚上经常有人打架，治安隐患很大")[0]


def test_a_taxi_or_a_public_flat_is_not_a_rented_flat(shipped):
    """出租房 is a place too: 出租车 shared its bigram 出租 with it, 廉租房 its 租房."""
    assert "出租房屋治安隐患" not in _names(shipped, "出租车司机绕路多收钱，还不给发票")
    assert "出租房屋治安隐患" not in _names(shipped, "申请廉租房两年了一直没有消息")
    assert _names(shipped, "楼下出租房群租，住了二十多个人，进出很乱")[0] == "出租房屋治安隐患"


def test_a_market_or_a_building_site_in_a_report_is_not_their_order_or_their_pit(shipped):
    assert "农贸市场秩序问题" not in _names(shipped, "建材市场的房产证办了三年还没办下来")
    assert "在建工地深基坑险情" not in _names(shipped, "小区旁边工地晚上施工噪音太大，吵得睡不着")
    assert _names(shipped, "小区旁边工地晚上施工噪音太大，吵得睡不着")[0] in ("噪声扰民", "施工扰民", "施工噪音")


# A district's own types, with the places its staff typed as keywords.
DISTRICT = [
    matching.Row(1, "物业纠纷", "矛盾纠纷 › 物业纠纷", "物业纠纷,物业,物业费,小区", "矛盾纠纷"),
    matching.Row(2, "医疗纠纷", "矛盾纠纷 › 医疗纠纷", "医疗纠纷,医患,医院", "矛盾纠纷"),
    matching.Row(3, "劳动争议", "矛盾纠纷 › 劳动争议", "劳动争议,欠薪,工资,公司", "矛盾纠纷"),
    matching.Row(4, "宅基地纠纷", "矛盾纠纷 › 宅基地纠纷", "宅基地纠纷,宅基地,村里", "矛盾纠纷"),
    matching.Row(5, "路灯异常", "市政公用设施类 › 路灯异常", "路灯,市政公用设施", "市政公用设施类"),
    matching.Row(6, "暴露垃圾", "市容环境类 › 暴露垃圾", "暴露垃圾,垃圾,市容环境", "市容环境类"),
]


@pytest.mark.parametrize("text, expected, not_offered", [
    ("小区门口的路灯坏了一个星期", "路灯异常", "物业纠纷"),
    ("医院门口垃圾堆了好几天没人管", "暴露垃圾", "医疗纠纷"),
    ("公司楼下那排路灯晚上不亮", "路灯异常", "劳动争议"),
    ("村里的垃圾没人清运，都臭了", "暴露垃圾", "宅基地纠纷"),
])
def test_a_place_a_district_typed_as_a_keyword_decides_nothing(text, expected, not_offered):
    index = matching.Index(DISTRICT)
    names = _names(index, text)
    assert names[0] == expected and not_offered not in names
    assert matching.clear([{"name": n, "score": s} for n, s in
                           ((index.rows[pk].name, score) for pk, score in index.rank(text))])


@pytest.mark.parametrize("text", ["我们小区", "医院", "那家公司", "村里"])
def test_a_place_alone_suggests_nothing(text):
    assert matching.Index(DISTRICT).rank(text) == []


@pytest.mark.parametrize("text, expected", [
    ("小区物业费一年涨了两次", "物业纠纷"),
    ("公司拖欠工资三个月了", "劳动争议"),
    ("村里两家为宅基地吵起来了", "宅基地纠纷"),
])
def test_with_the_problem_in_the_text_the_subclass_is_found_as_before(text, expected):
    index = matching.Index(DISTRICT)
    assert _names(index, text)[0] == expected


@pytest.mark.django_db
def test_a_place_keyword_an_administrator_added_suggests_nothing_by_itself_through_the_database():
    taxonomy = Taxonomy.objects.create(code="district", name="本区事件类型")
    disputes = Category.objects.create(taxonomy=taxonomy, code="01", name="矛盾纠纷")
    estate = Category.objects.create(taxonomy=taxonomy, code="0101", name="物业纠纷", parent=disputes,
                                     keywords="物业纠纷,物业,小区")
    town = Category.objects.create(taxonomy=taxonomy, code="02", name="市政公用设施类")
    lamp = Category.objects.create(taxonomy=taxonomy, code="0201", name="路灯异常", parent=town, keywords="路灯")
    matching.clear_cache()

    assert [c["id"] for c in matching.suggest("小区门口的路灯坏了一个星期")] == [lamp.pk]
    assert matching.suggest("我们小区") == []
    assert matching.suggest("小区物业不管事")[0]["id"] == estate.pk
