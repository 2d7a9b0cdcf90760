"""Possible duplicates of a report: cases nearby still in hand (挂账 included), however old, and cases closed
around the report's time (`conf.duplicate_hours()`, 72 h by default), of the same category or a related one,
best match first.

Which categories. A report is compared with cases of

* the same category: its own, or its counterpart in the other kind of GB/T 47678.5. The standard numbers each
  管理部件 (component) and the 管理事项 "<部件>异常" about it with one code (classes 01–05: 部件 04002 行道树 and
  事项 04002 行道树异常, 01037 路灯 and 路灯异常, 01003 雨水井盖 and 雨水井盖异常: all 153 pairs of the directory),
  in one taxonomy told apart by kind (`Category.key`). An operator may file a leaning tree under either, so the
  two count as one category. The relation is the directory's own numbering, taxonomy + code across the two kinds
  (:func:`same_category`): every district that loads the directory has it, a local category an administrator
  creates under a standard code joins it, and codes never change once created. Matching names instead
  ("路灯" in "路灯异常") would also pair 路灯 with 路灯井盖异常 and 路灯配电箱异常 and miss 紧急报警点异常SOS;
  a mapping table kept by hand would be a second copy of what the codes already say, free to drift from them.
* a related category: the rest of the class (the class itself and its subclasses, of both kinds for a
  component or matter). A class such as 06 市容环境类 holds dozens of matters, and a full garbage box is no
  duplicate of a loose paving slab beside it: these, and every case near a report without a category, are
  offered only when their texts are alike (`conf.duplicate_min_text()`, 0.2 by default, set by
  `CIVICGRID_DUPLICATE_MIN_TEXT`). Cases of the same category are offered by place and time alone.

Which cases. A duplicate may join a case still being handled or one on hold (`MERGE_PARENT_STATUSES`): 挂账 waits
for a budget or a plan with the problem unsolved, and a new report of it joins that case rather than starting a
second one. Such a case is offered however long ago it was reported: an overdue case at the spot is the one the
new report is about, and dispatching the report too would give a department the same problem twice. The time
window is for cases whose loop ended: a case closed (已结案) within `hours` before or after the report is offered
too, not to join (`Candidate.joinable` is false) but because the problem may have come back or not been fixed:
a dispatcher may reopen it (重新办理, within `CIVICGRID_REOPEN_DAYS`) and merge the report into it, or handle the
report on its own. Refused, voided and merged cases are never offered (a merged one's parent is). Open cases rank
before closed ones.

How. `candidates(...)` reads the cases in a bounding box around the point in one query, open ones and those
closed in the window, through the index `(status, lat, lng, closed_at)` (migration `0021`): for each status a
range of latitudes, longitude and closing time checked in the index, so only the cases in the box are read
however many a district holds. It then measures the great-circle distance in Python and keeps those within the
radius. The texts are compared after normalisation (full-width, punctuation, numbers, common variants such as
垃圾箱/垃圾桶 or 违建/违章建筑), by character bi/trigrams weighted TF-IDF-like over the candidates themselves with
generic words (反映, 尽快处理 …) counting little, blended with the plain bigram cosine (`TextScorer`). Candidates
rank by `score`: mostly that text similarity (`TEXT_WEIGHT`), then nearness; ties go to the nearer.

Merging. A dispatcher may also name a parent by its number. `fit(case, parent)` says whether this finder offers
it (the case page's list, searched whole) and, if not, which rule it fails (beyond the radius, another category,
a related one with unlike texts), in words the merge form's preview and its refusal show: such a merge takes
the dispatcher's reason, and none is enough beyond `conf.merge_max_distance_m()` (`services.actions_intake`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.db.models import Q
from django.utils import timezone

from civicgrid.apps.categories.models import CategoryKind

from . import conf
from .models import MERGE_PARENT_STATUSES, Case, Status

EARTH_RADIUS_M = 6_371_008.8
MAX_CANDIDATES = 20
# The two kinds of GB/T 47678.5 whose classes 01–05 share their codes: a component and its matter.
PAIRED_KINDS = frozenset({CategoryKind.COMPONENT, CategoryKind.MATTER})


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# ------------------------------------------------------------------------------------------- text similarity
# Variants people write for the same thing → one form, so "垃圾箱满了" and "垃圾桶满溢" share their words.
# Longest variant first; a variant never contains its own canonical form's replacement loop.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "垃圾桶": ("垃圾箱", "垃圾筒", "果皮箱", "垃圾收集点"),
    "满溢": ("满了", "装满", "溢出来", "冒出来"),
    "井盖": ("窨井盖", "下水井盖", "检查井盖", "雨水井盖", "井篦子", "雨水篦子"),
    "缺失": ("丢了", "没了", "被偷", "不见了"),
    "下水道": ("下水管道", "排水管道", "排水管", "下水管"),
    "堵塞": ("堵住", "堵了", "淤堵", "不通畅", "不通"),
    "漏水": ("渗水", "跑水", "滴水"),
    "路灯": ("街灯", "灯杆", "照明灯"),
    "不亮": ("熄灭", "黑灯", "没亮", "灭了"),
    "噪音": ("噪声", "吵闹", "太吵"),
    "占道经营": ("占道摆摊", "摆摊设点", "流动摊贩", "游商", "摆摊"),
    "违章建筑": ("私搭乱建", "乱搭乱建", "违建"),
    "乱停": ("乱停乱放", "违停", "违章停车", "乱停车"),
    "电动车": ("电瓶车", "电单车"),
    "小广告": ("牛皮癣", "乱贴广告", "乱张贴"),
    "积水": ("淹水", "水洼", "水坑"),
    "暖气": ("供暖", "暖气片", "采暖"),
    "破损": ("损坏", "坏了", "破了", "裂了"),
}
_VARIANT_TO = {v: canon for canon, variants in SYNONYMS.items() for v in variants}
_VARIANTS = re.compile("|".join(re.escape(v) for v in sorted(_VARIANT_TO, key=len, reverse=True)))
# Words every report has (who asks, how urgent): they say nothing about which problem it is.
GENERIC = frozenset({
    "反映", "市民", "来电", "群众", "居民", "请求", "要求", "希望", "尽快", "处理", "解决", "问题", "相关", "部门",
    "情况", "现在", "目前", "已经", "一直", "没有", "有人", "这个", "那个", "我们", "我家", "你们", "谢谢", "麻烦",
    "附近", "位置", "地方", "严重", "影响", "进行", "协调", "帮助", "联系", "多次", "长时间", "无人",
})
GENERIC_WEIGHT = 0.15
# What the problem is weighs more than where it is: every report near a point names the same street and estate.
PROBLEM_WORDS = frozenset(SYNONYMS) | frozenset({
    "垃圾", "渣土", "油烟", "烧烤", "异味", "臭味", "污水", "排水", "积雪", "结冰", "塌陷", "坑洼", "树木", "倒伏",
    "枯死", "绿化", "停车", "车位", "楼道", "电梯", "屋顶", "墙体", "开裂", "脱落", "燃气", "漏气", "电线", "飞线",
    "火灾", "隐患", "施工", "扬尘", "广告", "招牌", "流浪", "犬只", "养狗", "纠纷", "吵架", "欠薪", "工资",
})
PROBLEM_WEIGHT = 2.0
_PROBLEM_GRAMS = frozenset(w[i:i + n] for w in PROBLEM_WORDS for n in (2, 3) for i in range(len(w) - n + 1))
PLACE_CHARS = frozenset("0号楼栋单元层室路街巷口区院村社")
PLACE_WEIGHT = 0.5
_DIGITS = re.compile(r"\d+")
# Chinese numerals in addresses (三号楼, 十二栋) read as the number they are.
_CN_NUMBER = re.compile(r"[零一二三四五六七八九十百两]+(?=[号楼栋单元层室])")


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    """Text as compared: full-width → half-width (NFKC), lower case, only letters and digits, every number
    one `0`, variants → their common form (:data:`SYNONYMS`)."""
    t = unicodedata.normalize("NFKC", str(text or "")).lower()
    t = "".join(ch for ch in t if ch.isalnum())
    t = _DIGITS.sub("0", _CN_NUMBER.sub("0", t))
    return _VARIANTS.sub(lambda m: _VARIANT_TO[m.group(0)], t)


@lru_cache(maxsize=4096)
def _bigrams(text: str) -> Counter:  # cached: callers only read it
    compact = normalise(text)
    if len(compact) == 1:
        return Counter([compact])
    return Counter(compact[i:i + 2] for i in range(len(compact) - 1))


@lru_cache(maxsize=4096)
def _terms(text: str) -> Counter:  # cached: callers only read it
    """Character bi- and trigrams of the normalised text (generic words count little, see `_weight`)."""
    t = normalise(text)
    if len(t) == 1:
        return Counter([t])
    grams = Counter(t[i:i + 2] for i in range(len(t) - 1))
    grams.update(t[i:i + 3] for i in range(len(t) - 2))
    return grams


@lru_cache(maxsize=65536)
def _weight(term: str) -> float:
    if term in _PROBLEM_GRAMS:
        return PROBLEM_WEIGHT
    if term in GENERIC or any(term[i:i + 2] in GENERIC for i in range(len(term) - 1)):
        return GENERIC_WEIGHT
    if any(ch in PLACE_CHARS for ch in term):
        return PLACE_WEIGHT
    return 1.0


def _cosine(a: dict, b: dict) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    if not dot:
        return 0.0
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


class TextScorer:
    """Similarity of a report to the texts of a pool (the candidates), TF-IDF-like, computed from the pool.

    A term's weight is its count × how rare it is among the pool's texts (log-scaled inverse document
    frequency, smoothed) × 2 for words of the problem (:data:`PROBLEM_WORDS`), × 0.5 for address-like
    pieces (numbers, 号/楼/路/街 …), × 0.15 for generic words; the score blends the weighted bi/trigram cosine (0.7) with
    the plain bigram cosine (0.3), so two short texts that share their words still score high."""

    BLEND = 0.7

    def __init__(self, texts):
        docs = [_terms(t) for t in texts]
        df: Counter = Counter()
        for d in docs:
            df.update(d.keys())
        self.n = len(docs)
        self.df = df

    def _vector(self, terms: Counter) -> dict:
        n = self.n
        return {k: v * (math.log((n + 1) / (self.df.get(k, 0) + 1)) + 1.0) * _weight(k) for k, v in terms.items()}

    def score(self, text_a: str, text_b: str) -> float:
        if getattr(self, "_query", None) != text_a:
            self._query, self._query_vector = text_a, self._vector(_terms(text_a))
        weighted = _cosine(self._query_vector, self._vector(_terms(text_b)))
        plain = _cosine(_bigrams(text_a), _bigrams(text_b))
        return min(1.0, self.BLEND * weighted + (1 - self.BLEND) * plain)


def similarity(text_a: str, text_b: str) -> float:
    """How alike two report texts are (0.0 … 1.0): the two texts alone as the pool (see :class:`TextScorer`);
    works on Chinese as is, punctuation, full-width characters and common variants do not matter."""
    return TextScorer([text_a, text_b]).score(text_a, text_b)


# Another text model may be plugged in here; candidates() only ever calls it through here when set.
SIMILARITY = None
# Ranking: mostly how alike the texts are, then how near (1 at the point, 0 at the radius).
TEXT_WEIGHT = 0.7


@dataclass(frozen=True)
class Candidate:
    """One possible duplicate, with how far it is and how alike the texts are."""

    case: Case
    distance_m: float
    text_score: float
    score: float = 0.0  # the rank: TEXT_WEIGHT × text_score + the rest × nearness

    @property
    def joinable(self) -> bool:
        """Whether the report may be merged into it now: still in hand or 挂账 (not a recently closed case)."""
        return self.case.status in MERGE_PARENT_STATUSES


def same_category(a, b) -> bool:
    """Whether two categories name one problem: the same category, or a component and its matter (the same
    taxonomy and code, one of each kind: GB/T 47678.5's numbering, see the module's docstring)."""
    if a is None or b is None:
        return False
    if a.pk == b.pk:
        return True
    return a.taxonomy_id == b.taxonomy_id and a.code == b.code and {a.kind, b.kind} == PAIRED_KINDS


def _category_q(category) -> Q:
    """Cases of the same category (or its counterpart) and of the related ones: the class, of either kind, and its
    subclasses."""
    if category is None:
        return Q()
    # In one taxonomy a code is a component's, its matter's, or both (their classes 01–05 share codes too).
    class_code = category.parent.code if category.parent_id else category.code
    return Q(category__taxonomy_id=category.taxonomy_id) & (
        Q(category__code=category.code) | Q(category__code=class_code, category__parent__isnull=True)
        | Q(category__parent__code=class_code))


def candidates(case: Case | None = None, *, lng: float | None = None, lat: float | None = None, category=None,
               at: datetime | None = None, text: str = "", radius_m: float | None = None,
               hours: float | None = None, queryset=None, limit: int | None = MAX_CANDIDATES) -> list[Candidate]:
    """Cases near `case` (or the point/category/time given) within `radius_m` that a duplicate could join (open
    or 挂账, however old), and those closed within ±`hours` of the report (`Candidate.joinable` false), of the same
    category or, with alike texts, a related one: the joinable first, then best first by `score` (mostly how
    alike the texts are, then how near), ties by distance.

    `queryset` narrows the search (e.g. `Case.objects.visible_to(user)` in an API); the case itself, and
    cases merged into others, are never candidates. `limit` None: all of them.
    """
    radius_m = conf.duplicate_radius_m() if radius_m is None else float(radius_m)
    hours = conf.duplicate_hours() if hours is None else float(hours)
    min_text = conf.duplicate_min_text()
    if case is not None:
        lng, lat, category, at = case.lng, case.lat, case.category, case.reported_at
        text = text or f"{case.title} {case.description}"
    if lng is None or lat is None:
        return []
    at = at or timezone.now()
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlng = dlat / max(math.cos(math.radians(lat)), 0.01)
    window = timedelta(hours=hours)
    # Each branch as the index `cases_duplicates_idx` reads it: statuses, then a range of latitudes, then the rest.
    box = Q(lat__gte=lat - dlat, lat__lte=lat + dlat, lng__gte=lng - dlng, lng__lte=lng + dlng)
    qs = (queryset if queryset is not None else Case.objects.all()).filter(
        _category_q(category),
        (Q(status__in=sorted(MERGE_PARENT_STATUSES)) & box)
        | (Q(status=Status.CLOSED, closed_at__gte=at - window, closed_at__lte=at + window) & box),
    )
    if case is not None:
        qs = qs.exclude(pk=case.pk)
    rows = list(qs.select_related("category", "department")[:500])
    near = [(other, haversine_m(lng, lat, other.lng, other.lat)) for other in rows]
    near = [(other, d) for other, d in near if d <= radius_m]
    texts = [f"{other.title} {other.description}" for other, _ in near]
    scorer = TextScorer([text, *texts])
    found = []
    for (other, distance), other_text in zip(near, texts, strict=True):
        text_score = SIMILARITY(text, other_text) if SIMILARITY else scorer.score(text, other_text)
        nearness = 1.0 - distance / radius_m if radius_m > 0 else 1.0
        rank = TEXT_WEIGHT * text_score + (1 - TEXT_WEIGHT) * nearness
        if text_score < min_text and not same_category(category, other.category):
            continue  # a related category (or none) is no tie by itself: only alike words make it one
        found.append(Candidate(other, round(distance, 1), round(text_score, 3), round(rank, 4)))
    found.sort(key=lambda c: (not c.joinable, -c.score, c.distance_m, c.case.pk))
    return found[:limit]


def merged_into(case: Case) -> list[Case]:
    """The cases merged into `case` (with those merged into them, which the merge moved along), in the order they
    joined, with what a list of them shows (number, title, times, the reporter's name and masked phone, the account
    that reported it): one query.
    """
    return list(Case.objects.filter(parent=case).order_by("ended_at", "pk").select_related("reporter").only(
        "pk", "number", "title", "source", "reported_at", "ended_at", "reporter_name", "reporter_phone_masked",
        "parent_id", "reporter__username", "reporter__display_name"))


# ------------------------------------------------------------------------------------ one parent, for a merge
@dataclass(frozen=True)
class Fit:
    """How a case a dispatcher names as the parent stands to a report, as this finder sees it: the figures the
    merge form previews, and, when the finder does not offer it, why (`reasons`: bilingual sentences, `codes`)."""

    distance_m: float
    radius_m: float
    candidate: Candidate | None
    codes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def offered(self) -> bool:
        """Whether the finder offers it as a duplicate to join (what the case page and `GET …/duplicates` list)."""
        return self.candidate is not None and self.candidate.joinable


def in_class_of(category, other) -> bool:
    """Whether `other` is among the categories a report of `category` is compared with (`_category_q`): its own
    code (component or matter), its class, or the class's subclasses, in its taxonomy. Any, for no category."""
    if category is None:
        return True
    if other is None or other.taxonomy_id != category.taxonomy_id:
        return False
    class_code = category.parent.code if category.parent_id else category.code
    return (other.code == category.code or (other.code == class_code and other.parent_id is None)
            or (other.parent_id is not None and other.parent.code == class_code))


def fit(case: Case, parent: Case, *, queryset=None) -> Fit:
    """`parent` as a duplicate of `case`: offered when `candidates(case, queryset=queryset)` (the case page's
    list, searched whole) holds it; otherwise each rule it fails, in the words the merge form and its refusal
    show. `queryset` as the case page searches (`Case.objects.visible_to(user)`), so the texts are weighed
    among the same cases and a case the page offers is always one that fits."""
    radius = conf.duplicate_radius_m()
    distance = round(haversine_m(case.lng, case.lat, parent.lng, parent.lat), 1)
    found = next((c for c in candidates(case, queryset=queryset, limit=None) if c.case.pk == parent.pk), None)
    if found is not None and found.joinable:
        return Fit(distance, radius, found)
    mine, theirs = case.category, parent.category
    codes, reasons = [], []
    if distance > radius:
        codes.append("distance")
        reasons.append(f"相距 {distance:.0f} 米，超出查重范围 {radius:.0f} 米 / {distance:.0f} m apart, beyond the "
                       f"duplicate radius of {radius:.0f} m")
    if mine is not None and theirs is None:
        codes.append("category")
        reasons.append("主案卷未分类 / the parent case has no category")
    elif not in_class_of(mine, theirs):
        codes.append("category")
        reasons.append(f"分类不同：「{mine.name}」与「{theirs.name}」 / different categories: \"{mine.name}\" and "
                       f"\"{theirs.name}\"")
    elif not same_category(mine, theirs):
        score = found.text_score if found is not None else similarity(
            f"{case.title} {case.description}", f"{parent.title} {parent.description}")
        least = conf.duplicate_min_text()
        if score < least:
            codes.append("text")
            if mine is None:
                reasons.append(f"本案卷未分类，且描述相似度 {score:.2f} 低于 {least:.2f} / this case has no category and "
                               f"the descriptions are alike {score:.2f}, below {least:.2f}")
            else:
                reasons.append(f"分类相近（「{mine.name}」与「{theirs.name}」）但描述相似度 {score:.2f} 低于 {least:.2f} / "
                               f"related categories (\"{mine.name}\", \"{theirs.name}\") but the descriptions are "
                               f"alike {score:.2f}, below {least:.2f}")
    if not codes:  # every rule holds, yet the search did not return it (more cases in the box than it reads)
        codes.append("not_found")
        reasons.append("未在疑似重复的查找结果中 / not among the possible duplicates found")
    return Fit(distance, radius, found, tuple(codes), tuple(reasons))
