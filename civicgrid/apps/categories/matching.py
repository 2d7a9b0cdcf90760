"""Which subclasses a free-text report is probably about: the text scored against each subclass's own words.

The text router's model learns departments (or whatever labels a district trained it on), so it says nothing
about the category a case must be accepted under; this fills that gap offline, from what the categories already
hold: the subclass's name, its keywords (the Open311 `keywords`, which carry the class name too), its class's
name and, weakly, its acceptance condition. Character bigrams, because reports are unsegmented Chinese and
words such as 路灯 or 井盖 are two characters long.

A subclass scores by its best-matching phrase: the share of that phrase's bigrams found in the text, each
bigram weighted by how few subclasses use it (a bigram in every subclass of a class, such as 设施, says little),
times the phrase's weight (name and keywords 1, class name 0.5, condition 0.3), times how specific the phrase
is: a phrase whose bigrams are in many classes (问题, 设施) says little about a report's area whole or not. In a
text longer than a sentence or two a bigram counts as BM25 counts a term in a long document: a long complaint
holds many keywords once by chance, and what it is about it repeats. A score of 1 is a specific name or keyword
found whole in a short text; 0 is nothing in common. Among subclasses with the same best phrase, the one with
more of its phrases in the text ranks first.

A place says where a report is, not what it is about (`PLACE_WORDS`: 学校, 小区, 医院, 公司, 村里 …, and 门口,
周边): reports name the school or the estate whatever their problem, so the bigrams of a place are no evidence by
themselves. A keyword that is only a place (学校 of 校园周边治安隐患) never suggests its subclass; it completes the
place of the subclass's other phrases, as far as the text has what they are about (学校 and 治安隐患 make
校园周边治安隐患 whole; 学校 and 学费 make nothing of it).

`suggest(text)` answers from an index of the categories in use, rebuilt when they change (one aggregate query
per call tells). `clear(…)` says whether the top one is clear enough to pre-select (the dispatcher still
chooses); it never decides anything on its own: auto-dispatch accepts only under a category the report or the
router's model named.
"""

from __future__ import annotations

import math
import re
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass

TOP = 3
# Pre-selected in the 立案 form only when the top subclass has a whole phrase (or nearly) in the text and
# clearly beats the next one.
CLEAR_SCORE = 0.75
CLEAR_MARGIN = 0.15
MIN_SCORE = 0.3  # below this a "match" is a stray common bigram: not offered at all
# A phrase whose bigrams are each in at most this many classes is fully specific: GB/T 47678 lists most things
# twice, as a 部件 and as a 事项, so two classes is as distinctive as a thing gets.
SPECIFIC_CLASSES = 2
# A report of a sentence or two (a grid member's description, a hotline ticket's gist) is about one thing: a word
# found once in it counts fully. Longer texts are discounted as BM25 discounts long documents (k1, b as usual).
SHORT_TEXT = 40
TF_K1 = 1.2
LENGTH_B = 0.75

_WEIGHTS = {"name": 1.0, "keyword": 1.0, "parent": 0.5, "condition": 0.3}
# Words that say where a report is, not what is wrong there: premises and settlements that others run (a school,
# an estate, a rented flat, a hospital, a firm, a building site, a village, a market) and the words placing
# something by them (门口, 周边). Reports name them whatever their problem (a school's fees, its canteen, a fight
# at its gate), so a bigram inside one is never evidence on its own: a keyword that is only a place (校园周边治安隐患's
# 学校) suggests nothing by itself, and a name's place (在建工地深基坑险情's 工地) matches nothing unless the rest
# of the name does too. With what the subclass is about in the text, its place counts in full (学校 completes
# 校园周边治安隐患 against 其他治安隐患). Places the city itself manages (道路, 公园, 广场, 公厕, 停车场) are not
# here: a report about one is mostly about its upkeep or order, which their subclasses are.
PLACE_WORDS = (
    "学校", "校园", "幼儿园", "小学", "中学", "大学", "学院",
    "小区", "社区", "出租房", "出租屋", "出租房屋", "医院", "卫生院", "诊所",
    "公司", "单位", "企业", "工厂", "厂区", "工地",
    "农村", "村里", "村子", "村庄", "村委会",
    "市场", "商场", "超市", "饭店", "餐馆", "酒店", "宾馆", "景区",
    "门口", "周边", "附近", "旁边", "周围", "对面",
)
_PLACE = re.compile("|".join(sorted(PLACE_WORDS, key=len, reverse=True)))
_SPLIT = re.compile(r"[;；,，、（）()/\s]+")
_NOT_HAN_OR_WORD = re.compile(r"[^\w]+")


def _norm(text: str) -> str:
    """NFKC (full-width → half-width), lower case, punctuation and spaces out."""
    return _NOT_HAN_OR_WORD.sub("", unicodedata.normalize("NFKC", str(text or "")).lower()).replace("_", "")


def _parts(text: str) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """The bigrams of `text`, counted: all of them, those that touch a place word (`PLACE_WORDS`: one character
    in one or both) and those about where (both characters in place words: 学校门口's 学校, 校门 and 门口). The
    bigrams about what are the ones that touch none; a bigram half in a place (门口路's 口路) is neither."""
    t = _norm(text)
    if len(t) == 1:
        return Counter(t), Counter(), Counter()
    counts = Counter(t[i:i + 2] for i in range(len(t) - 1))
    inside: set[int] = set()
    for m in _PLACE.finditer(t):
        inside.update(range(m.start(), m.end()))
    if not inside:
        return counts, Counter(), Counter()
    touching = sorted({i for k in inside for i in (k - 1, k) if 0 <= i < len(t) - 1})
    return (counts, Counter(t[i:i + 2] for i in touching),
            Counter(t[i:i + 2] for i in touching if i in inside and i + 1 in inside))


def _evidence(count: int, length: int) -> float:
    """How much `count` occurrences of a bigram in a text of `length` bigrams say, from 0 to 1 (BM25's term
    frequency): a long complaint contains many stray words once (投诉, 工资, 家庭), what it is about it repeats.
    Up to `SHORT_TEXT` bigrams one occurrence is enough."""
    stretch = 1 - LENGTH_B + LENGTH_B * max(length, SHORT_TEXT) / SHORT_TEXT
    return min(1.0, count * (TF_K1 + 1) / (count + TF_K1 * stretch))


@dataclass(frozen=True)
class Row:
    """A subclass as the matcher reads it (built from the database or, for a benchmark, from the loaders' specs)."""

    id: int
    name: str
    path: str  # "class › subclass", as the forms show it
    keywords: str = ""
    parent_name: str = ""
    condition: str = ""


class Index:
    """The phrases of every subclass, with bigram weights; `rank(text)` scores them all."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = {r.id: r for r in rows}
        # Per subclass its phrases as (weight, bigrams about what, bigrams about where: `_parts`), and apart its
        # keywords that are only a place: they never score, they complete the place of a phrase that does.
        self._phrases: dict[int, list[tuple[float, frozenset[str], frozenset[str]]]] = {}
        self._places: dict[int, list[frozenset[str]]] = {}
        for r in rows:
            phrases: list[tuple[float, frozenset[str], frozenset[str]]] = []
            places: list[frozenset[str]] = []
            seen: set[frozenset[str]] = set()

            def add(weight: float, text: str, phrases=phrases, places=places, seen=seen) -> None:
                if len(_norm(text)) < 2:
                    return
                counts, touching, where = _parts(text)
                what = counts.keys() - touching.keys()
                key = frozenset(counts) - (touching.keys() - where.keys())
                if not key or key in seen:
                    return
                seen.add(key)
                if what:
                    phrases.append((weight, frozenset(what), frozenset(where)))
                else:
                    places.append(frozenset(where))

            add(_WEIGHTS["name"], r.name)
            # 路灯异常 is written 路灯 in a report: the loaders strip such suffixes from keywords; the name too
            add(_WEIGHTS["name"], r.name.removesuffix("异常").removesuffix("问题"))
            for word in _SPLIT.split(r.keywords or ""):
                if word != r.parent_name:
                    add(_WEIGHTS["keyword"], word)
            add(_WEIGHTS["parent"], r.parent_name)
            add(_WEIGHTS["condition"], r.condition)
            self._phrases[r.id] = phrases
            self._places[r.id] = places
        used = {pk: [what | where for _w, what, where in self._phrases[pk]] + self._places[pk] for pk in self.rows}
        df: dict[str, int] = {}
        for grams in used.values():
            for g in set().union(*grams):
                df[g] = df.get(g, 0) + 1
        n = max(len(rows), 1)
        self._idf = {g: math.log((n + 1) / (d + 0.5)) for g, d in df.items()}
        # How many classes use a bigram: what a phrase says about the area of a report. 井盖 is in forty
        # subclasses but two classes (the 部件 and the 事项), 问题 or 设施 in most classes.
        classes: dict[str, set[str]] = {}
        for r in rows:
            for grams in used[r.id]:
                for g in grams:
                    classes.setdefault(g, set()).add(r.parent_name)
        c = max(len({r.parent_name for r in rows}), 1)
        spread = {g: math.log1p(c / len(k)) for g, k in classes.items()}
        full = math.log1p(c / SPECIFIC_CLASSES)
        # Each phrase's whole weight and that of its what, how specific it is, and which phrases hold a bigram
        # about what: a text is scored only against the phrases it shares such a bigram with (a few dozen of the
        # thousands).
        self._whole: dict[tuple[int, int], tuple[float, float]] = {}
        self._specific: dict[tuple[int, int], float] = {}
        self._holding: dict[str, list[tuple[int, int]]] = {}
        for pk, phrases in self._phrases.items():
            for i, (_weight, what, where) in enumerate(phrases):
                self._whole[(pk, i)] = (sum(self._idf[g] for g in what | where), sum(self._idf[g] for g in what))
                self._specific[(pk, i)] = min(1.0, sum(spread[g] for g in what | where) / full)
                for g in what:
                    self._holding.setdefault(g, []).append((pk, i))

    def rank(self, text: str, limit: int = TOP) -> list[tuple[int, float]]:
        """The best `limit` subclasses for `text` as (id, score), best first; only scores ≥ `MIN_SCORE`."""
        counts, touching, _where = _parts(text)
        length = sum(counts.values())
        idf = self._idf

        def found_in_text(grams: frozenset[str]) -> float:
            return sum(idf[g] * _evidence(counts[g], length) for g in grams if g in counts)

        found: dict[tuple[int, int], float] = {}
        for g, count in counts.items():
            if g in self._holding and (count := count - touching.get(g, 0)) > 0:  # a place is no evidence by itself
                weight = idf[g] * _evidence(count, length)
                for key in self._holding[g]:
                    found[key] = found.get(key, 0.0) + weight
        best: dict[int, float] = {}
        total: dict[int, float] = {}
        named: dict[int, float] = {}
        for (pk, i), weight in found.items():
            whole, about = self._whole[(pk, i)]
            phrase_weight, _what, where = self._phrases[pk][i]
            if where:
                # The phrase's place as far as the text has its what: the place's own bigrams in the text, or the
                # whole place where the text names one of the subclass's places (学校 for 校园周边治安隐患's 校园周边).
                if pk not in named:
                    named[pk] = max((found_in_text(p) / sum(idf[g] for g in p) for p in self._places[pk]),
                                    default=0.0)
                place = max(found_in_text(where), sum(idf[g] for g in where) * named[pk])
                weight += place * weight / about
            share = phrase_weight * self._specific[(pk, i)] * weight / whole
            best[pk] = max(best.get(pk, 0.0), share)
            total[pk] = total.get(pk, 0.0) + share
        scored = sorted(((-b, -total[pk], pk) for pk, b in best.items() if b >= MIN_SCORE))
        return [(pk, round(-b, 3)) for b, _total, pk in scored[:limit]]


def _base(name: str) -> str:
    return _norm(name).removesuffix("异常").removesuffix("问题")


def clear(ranked: list[dict]) -> bool:
    """Whether the top suggestion (of `suggest`) is clear enough to pre-select: a near-whole phrase, well ahead
    of the next one that is not its twin (GB/T 47678 lists 路灯 as a 部件 and 路灯异常 as a 事项: the same thing
    for the reader, and the 事项 ranks first as more of its phrases match)."""
    if not ranked or float(ranked[0]["score"]) < CLEAR_SCORE:
        return False
    top = _base(ranked[0]["name"])
    rest = [float(r["score"]) for r in ranked[1:] if _base(r["name"]) != top]
    return not rest or float(ranked[0]["score"]) - rest[0] >= CLEAR_MARGIN


_LOCK = threading.Lock()
_CACHE: dict = {"stamp": None, "index": None, "until": 0.0}


def _stamp():
    """What the index depends on: the categories (any edit moves `updated_at`) and which taxonomies are on."""
    from django.db.models import Count, Max, Q

    from .models import Category, Taxonomy

    cats = Category.objects.aggregate(n=Count("id"), at=Max("updated_at"))
    taxa = Taxonomy.objects.aggregate(n=Count("id"), on=Count("id", filter=Q(is_active=True)))
    return (cats["n"], cats["at"], taxa["n"], taxa["on"])


def current_index(recheck_seconds: float = 0.0) -> Index:
    """The index of the subclasses now offered for reports (`in_use_q`), rebuilt when a category or taxonomy
    changed since it was built. Whether they changed is asked at most every `recheck_seconds` (the router passes
    its own interval, so a suggestion within it reads nothing from the database)."""
    from .models import Category, in_use_q

    now = time.monotonic()
    with _LOCK:
        if _CACHE["index"] is not None and _CACHE["until"] > now:
            return _CACHE["index"]
    stamp = _stamp()
    with _LOCK:
        if _CACHE["stamp"] == stamp and _CACHE["index"] is not None:
            _CACHE["until"] = now + recheck_seconds
            return _CACHE["index"]
    subclasses = (Category.objects.filter(in_use_q(), parent__isnull=False).select_related("parent")
                  .only("pk", "name", "keywords", "acceptance_condition", "parent__name"))
    index = Index([Row(c.pk, c.name, f"{c.parent.name} › {c.name}", c.keywords, c.parent.name,
                       c.acceptance_condition) for c in subclasses])
    with _LOCK:
        _CACHE.update(stamp=stamp, index=index, until=now + recheck_seconds)
    return index


def clear_cache() -> None:
    with _LOCK:
        _CACHE.update(stamp=None, index=None, until=0.0)


def suggest(text: str, limit: int = TOP, *, recheck_seconds: float = 0.0) -> list[dict]:
    """The top subclasses for a report's text: [{"id", "name", "path", "score"}, …], best first (may be empty)."""
    return suggest_many([text], limit, recheck_seconds=recheck_seconds)[0]


def suggest_many(texts: list[str], limit: int = TOP, *, recheck_seconds: float = 0.0) -> list[list[dict]]:
    """`suggest` for each of `texts`, from one look at the categories (a page listing many reports)."""
    if not texts:
        return []
    index = current_index(recheck_seconds)
    return [[{"id": pk, "name": index.rows[pk].name, "path": index.rows[pk].path, "score": score}
             for pk, score in index.rank(text, limit)] for text in texts]
