"""Benchmark of the text router (civicgrid.integrations.router) on a labelled message file.

    python benchmarks/bench_router.py --csv /work/shared/data/messages/train.csv

What it measures (everything is printed; nothing is written into the repository):

* Grouped 5-fold cross-validation: messages whose character-bigram cosine similarity is ≥ 0.9 are joined into
  groups (sparse radius-neighbour graph + connected components) and a group never spans two folds
  (StratifiedGroupKFold). Per fold and mean±sd: macro-F1 and accuracy of the router model, on
  - the file's text as it is ("original"),
  - a "punctuated" variant: Chinese punctuation, spaces and full-width characters inserted deterministically
    (the file's text had punctuation and spaces removed; real input has them),
  - a "punctuated+traditional" variant: the punctuated text written in traditional characters.
* The baseline in the same run and folds: TF-IDF (char 1–2-grams) + LinearSVC on the raw text, and the ratio of
  the router's macro-F1 to the baseline's.
* Calibration of the router's confidence on the pooled out-of-fold predictions: expected calibration error and,
  for a few auto-dispatch thresholds, the share of messages above it and their accuracy.
* Training time on the full file and prediction time per message, single-threaded (wall and CPU time; on a
  shared machine the CPU time is the better estimate of a dedicated core).

Models trained here live in memory or under a temporary directory (``--tmp``, default /tmp), never in the repo.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402 - puts the repository on the path for civicgrid
import numpy as np  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import StratifiedGroupKFold  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from civicgrid.integrations.router import model as router  # noqa: E402
from civicgrid.integrations.router.textnorm import _T2S_MAP  # noqa: E402

REPO = common.ROOT
TARGET_MACRO_F1 = 0.93


# ------------------------------------------------------------------------------------------------- data
def read_messages(path: Path) -> tuple[list[str], list[str], list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["id"] for r in rows], [r["text"] for r in rows], [r["label"] for r in rows]


def near_duplicate_groups(texts: list[str], threshold: float = 0.9) -> np.ndarray:
    """Group ids: connected components of the graph 'character-bigram cosine ≥ threshold'."""
    x = CountVectorizer(analyzer="char", ngram_range=(2, 2), lowercase=False, dtype=np.float32).fit_transform(
        texts
    )
    nn = NearestNeighbors(radius=1.0 - threshold, metric="cosine", algorithm="brute").fit(x)
    graph = nn.radius_neighbors_graph(x, mode="connectivity")
    _, labels = connected_components(graph, directed=False)
    return labels


# ------------------------------------------------------------------------------------------------- variants
_PUNCT = "，，，，。。、！？；："
_S2T_CANDIDATES: dict[str, list[str]] = {}
for _t, _s in sorted(_T2S_MAP.items()):
    _S2T_CANDIDATES.setdefault(_s, []).append(_t)
# simplified → traditional for characters with one traditional form in the table (发/發/髮 … stay simplified)
_S2T = {s: ts[0] for s, ts in _S2T_CANDIDATES.items() if len(ts) == 1}


def _rng(message_id: str, salt: str) -> random.Random:
    return random.Random(zlib.crc32(f"{salt}:{message_id}".encode()))


def punctuate(message_id: str, text: str) -> str:
    """Deterministically put back what people type: Chinese punctuation every ~12 characters, the odd space or
    ideographic space, full-width letters and digits, a final full stop."""
    rng = _rng(message_id, "punct")
    out = []
    for i, ch in enumerate(text):
        if "!" <= ch <= "~" and rng.random() < 0.5:  # ASCII → full-width
            ch = chr(ord(ch) + 0xFEE0)
        out.append(ch)
        if i + 1 < len(text) and not text[i + 1].isspace() and not ch.isspace():
            r = rng.random()
            if r < 1 / 12:
                out.append(rng.choice(_PUNCT))
            elif r < 1 / 12 + 1 / 60:
                out.append(rng.choice((" ", "\u3000")))
    out.append("。")
    return "".join(out)


def traditionalise(text: str) -> str:
    return "".join(_S2T.get(ch, ch) for ch in text)


# ------------------------------------------------------------------------------------------------- models
def baseline_fit_predict(train_texts, train_labels, test_sets):
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2))
    clf = LinearSVC(random_state=0).fit(vec.fit_transform(train_texts), train_labels)
    return [clf.predict(vec.transform(t)) for t in test_sets]


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return total


def fmt(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{a.mean():.4f} ± {a.std():.4f}"


# ------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", required=True, type=Path, help="labelled messages: id,text,label")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.9, help="near-duplicate cosine threshold")
    ap.add_argument(
        "--tmp", type=Path, default=Path(tempfile.gettempdir()), help="where a model may be saved"
    )
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args(argv)

    tmp_root = args.tmp.resolve()
    if tmp_root == REPO or REPO in tmp_root.parents:
        ap.error("--tmp must be outside the repository")

    ids, texts, labels = read_messages(args.csv)
    y = np.array(labels)
    n = len(texts)
    print(f"file: {args.csv}  messages: {n}  labels: {len(set(labels))}")
    t0 = time.perf_counter()
    groups = near_duplicate_groups(texts, args.threshold)
    sizes = np.bincount(groups)
    print(
        f"near-duplicate groups (bigram cosine ≥ {args.threshold}): {len(sizes)} groups, "
        f"{int((sizes > 1).sum())} with >1 message covering {int(sizes[sizes > 1].sum())} messages, "
        f"largest {int(sizes.max())}  [{time.perf_counter() - t0:.1f}s]"
    )
    punct = [punctuate(i, t) for i, t in zip(ids, texts, strict=True)]
    trad = [traditionalise(t) for t in punct]
    print(f"example punctuated: {punct[0][:60]}…")
    print(f"example traditional: {trad[0][:60]}…")
    variants = {"original": texts, "punctuated": punct, "punct+traditional": trad}

    skf = StratifiedGroupKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    res: dict[tuple[str, str, str], list[float]] = {}
    oof_conf = np.zeros(n)
    oof_pred = np.empty(n, dtype=object)
    print(
        f"\n{'fold':>4} {'n_test':>6}  {'router mF1 orig/punct/trad':>28}  {'baseline mF1 orig/punct':>24}  fit s"
    )
    for k, (tr, te) in enumerate(skf.split(texts, y, groups)):
        t1 = time.perf_counter()
        m = router.train([texts[i] for i in tr], y[tr].tolist())
        fit_s = time.perf_counter() - t1
        line_r, line_b = [], []
        for vname, vtexts in variants.items():
            preds = m.predict([vtexts[i] for i in te])
            p = np.array([q.label for q in preds])
            res.setdefault(("router", vname, "f1"), []).append(f1_score(y[te], p, average="macro"))
            res.setdefault(("router", vname, "acc"), []).append(accuracy_score(y[te], p))
            line_r.append(res[("router", vname, "f1")][-1])
            if vname == "original":
                oof_conf[te] = [q.confidence for q in preds]
                oof_pred[te] = p
        bases = baseline_fit_predict(
            [texts[i] for i in tr], y[tr], [[texts[i] for i in te], [punct[i] for i in te]]
        )
        for vname, p in zip(("original", "punctuated"), bases, strict=True):
            res.setdefault(("baseline", vname, "f1"), []).append(f1_score(y[te], p, average="macro"))
            res.setdefault(("baseline", vname, "acc"), []).append(accuracy_score(y[te], p))
            line_b.append(res[("baseline", vname, "f1")][-1])
        print(
            f"{k + 1:>4} {len(te):>6}  {' / '.join(f'{v:.4f}' for v in line_r):>28}  "
            f"{' / '.join(f'{v:.4f}' for v in line_b):>24}  {fit_s:5.1f}",
            flush=True,
        )

    print(f"\n{'model':<9} {'variant':<18} {'macro-F1 (mean ± sd)':>22} {'accuracy (mean ± sd)':>22}")
    for (who, vname, metric), vals in res.items():
        if metric == "f1":
            print(f"{who:<9} {vname:<18} {fmt(vals):>22} {fmt(res[(who, vname, 'acc')]):>22}")
    ours = np.mean(res[("router", "original", "f1")])
    base = np.mean(res[("baseline", "original", "f1")])
    ours_p = np.mean(res[("router", "punctuated", "f1")])
    base_p = np.mean(res[("baseline", "punctuated", "f1")])
    print(f"\nratio router/baseline macro-F1: original {ours / base:.4f}, punctuated {ours_p / base_p:.4f}")
    verdict = "reached" if min(ours, ours_p) >= TARGET_MACRO_F1 else "NOT reached"
    print(f"target macro-F1 ≥ {TARGET_MACRO_F1} on original and punctuated: {verdict}")

    correct = oof_pred == y
    print(f"\ncalibration (pooled out-of-fold, original text): ECE {ece(oof_conf, correct):.4f}")
    print(f"{'threshold':>9} {'coverage':>9} {'accuracy':>9}")
    for thr in (0.5, 0.7, 0.8, 0.9, 0.95):
        m_ = oof_conf >= thr
        acc = correct[m_].mean() if m_.any() else float("nan")
        print(f"{thr:>9.2f} {m_.mean():>9.3f} {acc:>9.4f}")

    if not args.skip_timing:
        print("\ntiming on the full file (single-threaded):")
        w0, c0 = time.perf_counter(), time.process_time()
        full = router.train(texts, labels)
        w1, c1 = time.perf_counter(), time.process_time()
        print(f"  train: wall {w1 - w0:.1f}s, cpu {c1 - c0:.1f}s  ({full.W.shape[0]} features; budget 60 s)")
        with tempfile.TemporaryDirectory(dir=tmp_root, prefix="civicgrid-router-bench-") as d:
            router.save(full, d)
            w0 = time.perf_counter()
            loaded = router.load(d, use_cache=False)
            print(f"  load: wall {time.perf_counter() - w0:.2f}s")
        sample = punct[:1000]
        loaded.predict(sample[:10])
        w0, c0 = time.perf_counter(), time.process_time()
        loaded.predict(sample)
        w1, c1 = time.perf_counter(), time.process_time()
        print(
            f"  predict batch of {len(sample)}: wall {(w1 - w0) / len(sample) * 1000:.2f} ms/msg, "
            f"cpu {(c1 - c0) / len(sample) * 1000:.2f} ms/msg"
        )
        w0, c0 = time.perf_counter(), time.process_time()
        for t in sample[:500]:
            loaded.predict([t])
        w1, c1 = time.perf_counter(), time.process_time()
        print(
            f"  predict one at a time: wall {(w1 - w0) / 500 * 1000:.2f} ms/msg, "
            f"cpu {(c1 - c0) / 500 * 1000:.2f} ms/msg (budget 5 ms)"
        )
        longest = max(texts, key=len)
        w0 = time.perf_counter()
        loaded.predict([longest * 20])
        print(
            f"  predict one very long message ({len(longest) * 20} chars): "
            f"wall {(time.perf_counter() - w0) * 1000:.1f} ms"
        )
        try:
            load_avg = os.getloadavg()[0]
            print(f"  (machine load average during the run: {load_avg:.1f} on {os.cpu_count()} cores)")
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
