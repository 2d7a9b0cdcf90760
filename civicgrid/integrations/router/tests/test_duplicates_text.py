"""Duplicate candidates compare text: normalised (full-width, numbers, 三号楼/3号楼), common variants
(垃圾箱/垃圾桶, 窨井盖/井盖, 违建/违章建筑), weighted TF-IDF-like over the candidates with the problem's words
counting more than the shared address, and candidates rank by it. The examples are made up here."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases import duplicates
from civicgrid.apps.cases.tests.conftest import POINT, report

M_PER_DEG_LAT = 111_195


def north(metres: float) -> float:
    return POINT[1] + metres / M_PER_DEG_LAT


SAME_PROBLEM = [
    ("幸福小区3号楼门口垃圾箱满了，请尽快处理", "幸福小区三号楼前垃圾桶满溢，臭味很大"),
    ("和平路与迎宾街交叉口窨井盖丢了", "迎宾街和平路口井盖缺失，很危险"),
    ("东关巷12号院内有人私搭乱建", "东关巷十二号院违章建筑"),
    ("永和里路灯熄灭两天了", "永和里的街灯不亮"),
    ("ＸＸ小区５号楼下水管道堵了", "XX小区5号楼下水道堵塞，污水外溢"),
]
SAME_PLACE_OTHER_PROBLEM = [
    ("幸福小区3号楼门口垃圾箱满了，请尽快处理", "幸福小区3号楼楼道灯不亮，请尽快处理"),
    ("和平路与迎宾街交叉口窨井盖丢了", "和平路与迎宾街交叉口有人占道摆摊"),
    ("东关巷12号院内有人私搭乱建", "东关巷12号院内有人养狗扰民"),
    ("永和里路灯熄灭两天了", "永和里路面塌陷两天了"),
    ("ＸＸ小区５号楼下水管道堵了", "XX小区5号楼电梯坏了"),
]


@pytest.mark.parametrize(("same", "other"), list(zip(SAME_PROBLEM, SAME_PLACE_OTHER_PROBLEM, strict=True)))
def test_the_same_problem_scores_above_the_same_place(same, other):
    assert same[0] == other[0]
    s_same, s_other = duplicates.similarity(*same), duplicates.similarity(*other)
    assert s_same > s_other, (same, other, s_same, s_other)


def test_normalisation_and_variants():
    assert duplicates.normalise("３号楼，垃圾箱！") == duplicates.normalise("三号楼垃圾桶")
    assert duplicates.normalise("违建") == "违章建筑"
    assert duplicates.similarity("ABC", "ａｂｃ") == pytest.approx(1.0)
    assert duplicates.similarity("井盖缺失", "邻里纠纷") == 0.0
    assert duplicates.similarity("", "垃圾") == 0.0
    # generic words alone make no duplicate
    assert duplicates.similarity("市民反映请尽快处理", "市民来电反映希望尽快处理") < 0.5


@pytest.mark.django_db
def test_candidates_rank_by_text_similarity_then_distance(loop):
    base = report(loop, title="幸福小区3号楼门口垃圾箱满了", description="垃圾箱满了好几天没人清运")
    same = report(loop, title="幸福小区三号楼前垃圾桶满溢", description="垃圾桶满溢，臭味很大", lat=north(120))
    other = report(loop, title="幸福小区3号楼门口有人乱停车", description="电动车乱停乱放堵住门口",
                   lat=north(15))
    found = duplicates.candidates(base)
    assert [c.case.pk for c in found] == [same.pk, other.pk]  # the farther one, because its text is alike
    assert found[0].text_score > found[1].text_score and found[0].score > found[1].score
    assert found[0].distance_m > found[1].distance_m
    # equal texts: the nearer first
    far_twin = report(loop, title="井盖缺失", description="窨井盖丢了", lat=north(-150))
    near_twin = report(loop, title="井盖缺失", description="窨井盖丢了", lat=north(-40))
    probe = report(loop, title="井盖缺失", description="窨井盖丢了", lat=north(-10))
    ranked = [c.case.pk for c in duplicates.candidates(probe)]
    assert ranked[:2] == [near_twin.pk, far_twin.pk]


@pytest.mark.django_db
def test_the_case_page_shows_the_similarity_of_each_candidate(loop, client):
    base = report(loop, title="幸福小区3号楼门口垃圾箱满了", description="垃圾箱满了")
    report(loop, title="幸福小区三号楼前垃圾桶满溢", description="垃圾桶满溢", lat=north(40))
    client.force_login(loop.dispatcher)
    page = client.get(f"/cases/{base.number}/").content.decode()
    score = duplicates.candidates(base)[0].text_score
    assert "文本相似度" in page and f"{score:.2f}" in page
