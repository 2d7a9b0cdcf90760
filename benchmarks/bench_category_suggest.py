"""How well the category suggestion (civicgrid.apps.categories.matching) finds a report's subclass, on a message file.

    python benchmarks/bench_category_suggest.py --csv /work/shared/data/messages/train.csv
    python benchmarks/bench_category_suggest.py --csv my_labelled.csv --category-column category

The subclasses are the ones the product ships (GB/T 47678.5-2026 and the social-governance types, as the
loaders read them: names, keywords, class names, acceptance conditions), indexed in memory: no database.
Texts are turned into simplified characters first, as the router does.

* With a category column (a subclass's name or code per message): top-1 and top-3 accuracy, and how often the
  suggestion is "clear" (the 立案 form pre-selects it) with the accuracy of those pre-selections.
* Without one (the shared file's labels are 7 department-like areas such as 城乡建设, not subclasses, so no
  accuracy can be computed from it): the share of messages with any suggestion and with a clear one, the
  score distribution, and for each label the classes its top suggestions fall in, for a reader to judge.
* The time to build the index and to score one message.

The messages are read at run time and never written anywhere; nothing is asserted.

Measured on the shared train.csv (7,368 messages; labels are broad areas, so a sanity table, not an accuracy),
before and after phrases were weighted by how few classes they are in, long texts discounted (BM25 term
frequency) and 投诉 dropped from 消费纠纷's keywords (every complaint says it):

    suggestion 88.8 % → 73.4 %; clear 27.5 % → 26.9 %; top score quartiles 1.00/1.00/1.00 → 0.46/0.72/0.97;
    median 0.1 ms and p95 0.6 ms per message both (back to back). Top class per label (most frequent three):
    城乡建设        矛盾纠纷 23 %, 市政公用设施类 14 %, 市容环境类 13 %  →  none 24 %, 矛盾纠纷 18 %, 市容环境类 11 %
    劳动和社会保障  矛盾纠纷 41 %, 民生服务 37 %, none 13 %            →  民生服务 38 %, 矛盾纠纷 36 %, none 21 %
    教育文体        民生服务 71 %, 矛盾纠纷 8 %, 治安隐患 7 %          →  民生服务 50 %, 治安隐患 30 %, none 11 %
    商贸旅游        矛盾纠纷 29 %, 市政公用设施类 18 %, none 14 %      →  none 38 %, 市政公用设施类 19 %, 矛盾纠纷 16 %
    环境保护        市容环境类 44 %, 市政公用设施类 12 %, 矛盾纠纷 11 % →  市容环境类 41 %, none 23 %, 市政公用设施类 9 %
    卫生计生        none 33 %, 矛盾纠纷 29 %, 民生服务 10 %            →  none 62 %, 矛盾纠纷 19 %, 民生服务 7 %
    交通运输        治安隐患 24 %, 交通设施类 17 %, 矛盾纠纷 15 %      →  治安隐患 30 %, none 25 %, 交通设施类 14 %

Most of what remains under 矛盾纠纷 for 劳动和社会保障 is 劳动争议 on 工资/欠薪, which fits; 治安隐患 for
教育文体 was 学校 (a keyword of a school-safety subclass) recurring in long texts.

Then a place stopped being evidence by itself (`matching.PLACE_WORDS`: 学校, 出租房, 市场, 工地 … no longer suggest
校园周边治安隐患, 出租房屋治安隐患, 农贸市场秩序问题, 在建工地深基坑险情 on their own, nor 出租 of 出租车 the rented
flat): 607 of the 7,368 top suggestions changed, all but eight of them away from those four subclasses.

    suggestion 73.4 % → 70.6 %; clear 26.9 % → 24.9 %; top score quartiles 0.46/0.72/0.97 → 0.45/0.69/0.94;
    scoring (best of 5 runs per message) median 0.19 → 0.24 ms, p95 0.94 → 1.08 ms. Top class per label:
    教育文体        民生服务 50 %, 治安隐患 30 %, none 11 %     →  民生服务 69 %, none 19 %, 矛盾纠纷 6 % (治安隐患 < 1 %)
    交通运输        治安隐患 30 %, none 25 %, 交通设施类 14 %   →  none 27 %, 交通设施类 25 %, 治安隐患 16 % (快递, 物流)
    城乡建设        none 24 %, 矛盾纠纷 18 %, 市容环境类 11 %   →  none 27 %, 矛盾纠纷 18 %, 市容环境类 12 %
    the other four labels: within a point or two, the same classes in the same order.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import common  # noqa: F401 - puts the repository on the path for civicgrid


def shipped_rows():
    """The product's subclasses as `matching.Row`s, numbered in loader order."""
    from civicgrid.apps.categories import loaders
    from civicgrid.apps.categories.matching import Row

    specs = loaders.gbt_specs() + loaders.social_specs()
    classes = {(s.kind, s.code): s for s in specs if not s.parent_code}
    rows, codes = [], {}
    for i, s in enumerate(specs):
        if not s.parent_code:
            continue
        parent = classes.get((s.kind, s.parent_code))
        parent_name = parent.name if parent else ""
        rows.append(Row(i, s.name, f"{parent_name} › {s.name}", s.keywords, parent_name, s.acceptance))
        codes[i] = s.code
    return rows, codes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=Path("/work/shared/data/messages/train.csv"))
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--category-column", default="category")
    parser.add_argument("--label-column", default="label")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")  # settings only: no database is opened
    common.setup_django()

    from civicgrid.apps.categories.matching import TOP, Index, clear
    from civicgrid.integrations.router.textnorm import to_simplified

    if not args.csv.is_file():
        print(f"no file at {args.csv}")
        return 1
    with args.csv.open(encoding="utf-8-sig", newline="") as fh:
        messages = [r for r in csv.DictReader(fh) if (r.get(args.text_column) or "").strip()]
    rows, codes = shipped_rows()
    started = time.perf_counter()
    index = Index(rows)
    build = time.perf_counter() - started
    print(f"{len(rows)} subclasses indexed in {build * 1000:.0f} ms; {len(messages)} messages from {args.csv}")

    ranked, elapsed = [], []
    for r in messages:
        t0 = time.perf_counter()
        top = [{"id": pk, "name": index.rows[pk].name, "score": score}
               for pk, score in index.rank(to_simplified(r[args.text_column]), TOP)]
        elapsed.append(time.perf_counter() - t0)
        ranked.append(top)
    print(f"scoring: median {statistics.median(elapsed) * 1000:.1f} ms, "
          f"p95 {sorted(elapsed)[int(len(elapsed) * 0.95)] * 1000:.1f} ms per message")

    n = len(messages)
    some = sum(1 for top in ranked if top)
    clear_n = sum(1 for top in ranked if clear(top))
    print(f"with a suggestion: {some}/{n} ({some / n:.1%}); clear (pre-selected): {clear_n}/{n} ({clear_n / n:.1%})")
    firsts = [top[0]["score"] for top in ranked if top]
    if firsts:
        q = statistics.quantiles(firsts, n=4)
        print(f"top score: quartiles {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}")

    truth_column = args.category_column if args.category_column in (messages[0] if messages else {}) else None
    if truth_column:
        def hit(top, truth: str, k: int) -> bool:
            return any(truth in (index.rows[c["id"]].name, codes[c["id"]], index.rows[c["id"]].path)
                       for c in top[:k])

        truths = [(r[truth_column] or "").strip() for r in messages]
        top1 = sum(hit(top, t, 1) for top, t in zip(ranked, truths, strict=True))
        top3 = sum(hit(top, t, 3) for top, t in zip(ranked, truths, strict=True))
        picked = [(top, t) for top, t in zip(ranked, truths, strict=True) if clear(top)]
        right = sum(hit(top, t, 1) for top, t in picked)
        print(f"top-1 accuracy {top1 / n:.1%}, top-3 accuracy {top3 / n:.1%} ({n} messages)")
        if picked:
            print(f"pre-selected: {len(picked)} ({len(picked) / n:.1%}), of which right {right / len(picked):.1%}")
        return 0

    print(f"no '{args.category_column}' column: the file's labels are not subclasses, so no accuracy is computed.")
    if args.label_column in (messages[0] if messages else {}):
        by_label: dict[str, Counter] = {}
        for r, top in zip(messages, ranked, strict=True):
            label = (r[args.label_column] or "").strip() or "(none)"
            cls = index.rows[top[0]["id"]].path.split(" › ")[0] if top else "(no suggestion)"
            by_label.setdefault(label, Counter())[cls] += 1
        print("top suggestion's class per label (most frequent three):")
        for label, counter in sorted(by_label.items(), key=lambda kv: -sum(kv[1].values())):
            total = sum(counter.values())
            common3 = "; ".join(f"{c} {k / total:.0%}" for c, k in counter.most_common(3))
            print(f"  {label} ({total}): {common3}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
