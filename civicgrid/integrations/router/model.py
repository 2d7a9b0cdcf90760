"""Text router model (消息分拨模型): raw citizen message → category/department with a calibrated confidence.

Model (chosen by grouped 5-fold cross-validation, see ``benchmarks/bench_router.py``)
-------------------------------------------------------------------------------------
* Text: :func:`textnorm.split_title` → normalised full text and a title (the part before the first line break
  or double space, or the first 25 characters).
* Features, each block TF-IDF with sublinear tf and smooth idf, L2-normalised, weighted, then the whole row
  L2-normalised again:
  character unigrams of the full text (weight 1), character bigrams of the full text (weight 1),
  character 1–2-grams of the title (weight 0.8).
* Classifier: one-vs-rest NB-SVM (Wang & Manning 2012): for each label, features are scaled by the log-count
  ratio ``r = log((p/|p|₁)/(q/|q|₁))`` of binarised occurrences in / out of the label (smoothing ``alpha``), and a
  linear SVM (squared hinge, ``C``) is fitted on the scaled features. ``r`` is folded into the weights, so
  prediction is one sparse × dense product.
* Confidence: the SVM scores are calibrated into probabilities that sum to 1 by a multinomial logistic
  regression fitted on out-of-fold scores (stratified K-fold inside the training data, K = 3 by default).
  Those out-of-fold predictions also give the cross-validated metrics stored in ``meta.json``.

Files of a saved model (plain, no pickle — loading a model never executes code from it)
---------------------------------------------------------------------------------------
``weights.npz`` (numpy arrays, loaded with ``allow_pickle=False``), ``vocab.json`` (n-gram vocabularies),
``meta.json`` (created_at, labels, n_samples, params, cv metrics, library versions, sha256 of each file and a
content hash over them). :func:`load` refuses a directory whose files do not match the hashes in ``meta.json``.
Loaded models are cached per process by (path, mtimes).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import threading
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from .textnorm import MAX_CHARS, split_title

__all__ = [
    "DEFAULT_PARAMS",
    "FORMAT_VERSION",
    "ModelIntegrityError",
    "Prediction",
    "Report",
    "RouterModel",
    "clear_cache",
    "evaluate",
    "load",
    "save",
    "train",
]

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.npz"
VOCAB_FILE = "vocab.json"
META_FILE = "meta.json"

#: Training parameters; any of them can be overridden as keyword arguments of :func:`train`.
DEFAULT_PARAMS: dict[str, Any] = {
    # feature blocks: (source, ngram_min, ngram_max, weight)
    "blocks": [["text", 1, 1, 1.0], ["text", 2, 2, 1.0], ["title", 1, 2, 0.8]],
    "min_df": "auto",  # 2 from 1,000 samples on, else 1
    "max_chars": MAX_CHARS,
    "C": 2.0,  # LinearSVC regularisation
    "alpha": 1.0,  # NB log-count-ratio smoothing
    "max_iter": 2000,
    "calibration_folds": 3,  # 0 disables calibration (softmax of raw scores) and cv metrics
    "calibration_C": 1.0,
    "random_state": 0,
}


class ModelIntegrityError(ValueError):
    """A model directory is incomplete, corrupted or was modified after it was written."""


@dataclass(frozen=True)
class Prediction:
    """One routed message: best label, its calibrated probability and the top three (label, probability)."""

    label: str
    confidence: float
    top3: list[tuple[str, float]]


# --------------------------------------------------------------------------------------------- features
def _ngram_counts(doc: str, lo: int, hi: int) -> Counter[str]:
    """Character n-grams (lo ≤ n ≤ hi) of one normalised document, with their counts."""
    counts: Counter[str] = Counter()
    size = len(doc)
    for n in range(lo, hi + 1):
        if n == 1:
            counts.update(doc)
        elif size >= n:
            counts.update(map(doc.__getitem__, map(slice, range(size - n + 1), range(n, size + 1))))
    return counts


@dataclass
class _Block:
    """One feature block: character n-grams of one source ("text" or "title"), TF-IDF, L2, weighted."""

    source: str
    ngram_range: tuple[int, int]
    weight: float
    vocabulary: dict[str, int]
    idf: np.ndarray

    @property
    def idf_list(self) -> list[float]:
        """The idf as a Python list (indexing a list is cheaper than a numpy array one value at a time)."""
        cached = self.__dict__.get("_idf_list")
        if cached is None or len(cached) != len(self.idf):
            cached = self.__dict__["_idf_list"] = self.idf.tolist()
        return cached

    def counts(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, counts) of the n-grams of ``docs`` that are in the vocabulary."""
        lo, hi = self.ngram_range
        get = self.vocabulary.get
        rows, cols, vals = [], [], []
        for i, doc in enumerate(docs):
            if not doc:
                continue
            c = _ngram_counts(doc, lo, hi)
            ids = np.fromiter(map(get, c.keys(), repeat(-1, len(c))), dtype=np.int64, count=len(c))
            cnt = np.fromiter(c.values(), dtype=np.float64, count=len(c))
            keep = ids >= 0
            cols.append(ids[keep])
            vals.append(cnt[keep])
            rows.append(np.full(int(keep.sum()), i, dtype=np.int64))
        if not rows:
            empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
            return empty_i, empty_i, empty_f
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    def tfidf(self, n_docs: int, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, cols, cnt = self.counts(docs)
        vals = (1.0 + np.log(cnt)) * self.idf[cols]
        vals = _l2_normalise(rows, vals, n_docs) * self.weight
        return rows, cols, vals

    @classmethod
    def fit(cls, source: str, ngram_range: tuple[int, int], weight: float, docs: Sequence[str], min_df: int):
        lo, hi = ngram_range
        vocab: defaultdict[str, int] = defaultdict()
        vocab.default_factory = vocab.__len__
        ids_per_doc = []
        counts_per_doc = []
        for doc in docs:
            c = _ngram_counts(doc, lo, hi)
            ids_per_doc.append(np.fromiter(map(vocab.__getitem__, c.keys()), dtype=np.int64, count=len(c)))
            counts_per_doc.append(np.fromiter(c.values(), dtype=np.float64, count=len(c)))
        n = len(docs)
        all_ids = np.concatenate(ids_per_doc) if ids_per_doc else np.zeros(0, np.int64)
        df = np.bincount(all_ids, minlength=len(vocab))
        keep = df >= min_df
        # New column order: kept terms sorted, so the vocabulary (and the saved file) is deterministic.
        terms = np.array(list(vocab.keys()), dtype=object)
        kept_terms = terms[keep]
        order = (
            np.argsort(kept_terms.astype(str), kind="stable") if len(kept_terms) else np.zeros(0, np.int64)
        )
        vocabulary = {str(t): int(j) for j, t in enumerate(kept_terms[order])}
        idf = (np.log((1.0 + n) / (1.0 + df[keep][order])) + 1.0).astype(np.float64)
        return cls(source, ngram_range, weight, vocabulary, idf)


def _l2_normalise(rows: np.ndarray, vals: np.ndarray, n_rows: int) -> np.ndarray:
    norms = np.sqrt(np.bincount(rows, weights=vals * vals, minlength=n_rows))
    norms[norms == 0] = 1.0
    return vals / norms[rows]


def _prepare(texts: Iterable[object], max_chars: int) -> dict[str, list[str]]:
    titles, fulls = [], []
    for t in texts:
        title, full = split_title(t, max_chars=max_chars)
        titles.append(title)
        fulls.append(full)
    return {"text": fulls, "title": titles}


def _features(blocks: list[_Block], docs: dict[str, list[str]]) -> sp.csr_matrix:
    """Feature matrix (CSR, float64, canonical): blocks side by side, each row L2-normalised."""
    n = len(docs["text"])
    rows, cols, vals = [], [], []
    offset = 0
    for block in blocks:
        r, c, v = block.tfidf(n, docs[block.source])
        rows.append(r)
        cols.append(c + offset)
        vals.append(v)
        offset += len(block.idf)
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    v = _l2_normalise(r, v, n)
    x = sp.csr_matrix((v, (r, c)), shape=(n, offset), dtype=np.float64)
    x.sum_duplicates()
    return x


# --------------------------------------------------------------------------------------------- classifier
def _fit_nbsvm(
    x: sp.csr_matrix,
    y: np.ndarray,
    n_classes: int,
    *,
    C: float,
    alpha: float,
    max_iter: int,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest NB-SVM. Returns (W [n_features, n_classes] float32, b [n_classes])."""
    n_features = x.shape[1]
    xb = x.copy()
    xb.data[:] = 1.0
    xb = xb.tocsc()
    W = np.zeros((n_features, n_classes), dtype=np.float32)
    b = np.zeros(n_classes, dtype=np.float64)
    for k in range(n_classes):
        pos = y == k
        p = alpha + np.asarray(xb[pos].sum(axis=0)).ravel()
        q = alpha + np.asarray(xb[~pos].sum(axis=0)).ravel()
        r = np.log((p / p.sum()) / (q / q.sum()))
        xr = x.copy()
        xr.data *= r[xr.indices]
        svm = LinearSVC(C=C, max_iter=max_iter, random_state=random_state, dual=True)
        svm.fit(xr, pos.astype(np.int8))
        W[:, k] = r * svm.coef_.ravel()
        b[k] = float(svm.intercept_[0])
    return W, b


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


# --------------------------------------------------------------------------------------------- model
class RouterModel:
    """A trained router. Build with :func:`train` or :func:`load`; use :meth:`predict` / :meth:`predict_proba`."""

    def __init__(
        self,
        labels: Sequence[str],
        blocks: list[_Block],
        W: np.ndarray,
        b: np.ndarray,
        calib_coef: np.ndarray,
        calib_intercept: np.ndarray,
        meta: dict[str, Any],
    ) -> None:
        self.labels = list(labels)
        self.blocks = blocks
        # stored as float32, computed in float64 (sparse float64 @ dense float32 would upcast W on every call)
        self.W = np.ascontiguousarray(np.asarray(W, dtype=np.float32), dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)
        self.calib_coef = np.asarray(calib_coef, dtype=np.float64)
        self.calib_intercept = np.asarray(calib_intercept, dtype=np.float64)
        self.meta = meta

    @property
    def params(self) -> dict[str, Any]:
        return self.meta.get("params", {})

    def decision_function(self, texts: Sequence[object]) -> np.ndarray:
        docs = _prepare(texts, int(self.params.get("max_chars", MAX_CHARS)))
        x = _features(self.blocks, docs)
        return np.asarray(x @ self.W, dtype=np.float64) + self.b

    def _calibrate(self, scores: np.ndarray) -> np.ndarray:
        return _softmax(scores @ self.calib_coef.T + self.calib_intercept)

    def predict_proba(self, texts: Sequence[object]) -> np.ndarray:
        """Probabilities, shape (n_texts, n_labels), columns in the order of :attr:`labels`; rows sum to 1."""
        if isinstance(texts, str):
            raise TypeError("predict_proba() expects a list of texts, not one string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)))
        return self._calibrate(self.decision_function(texts))

    def predict(self, texts: Sequence[object]) -> list[Prediction]:
        """Route each text. ``top3`` is sorted by confidence (fewer entries if the model has < 3 labels)."""
        proba = self.predict_proba(texts)
        k = min(3, len(self.labels))
        out = []
        for row in proba:
            order = np.argsort(-row, kind="stable")[:k]
            top = [(self.labels[i], float(row[i])) for i in order]
            out.append(Prediction(label=top[0][0], confidence=top[0][1], top3=top))
        return out

    def predict_one(self, text: object) -> Prediction:
        """`predict([text])[0]` for one report at intake, in plain Python up to one product with the rows of W
        its n-grams select (numpy's per-call cost dominates for a single short text). Same features and
        weights as `_features`; sums in another order, so equal to rounding (tested)."""
        docs = _prepare([text], int(self.params.get("max_chars", MAX_CHARS)))
        cols: list[int] = []
        vals: list[float] = []
        offset = 0
        for block in self.blocks:
            doc = docs[block.source][0]
            if doc:
                get, idf = block.vocabulary.get, block.idf_list
                lo, hi = block.ngram_range
                start = len(vals)
                for gram, count in _ngram_counts(doc, lo, hi).items():
                    j = get(gram)
                    if j is not None:
                        cols.append(j + offset)
                        vals.append((1.0 + math.log(count)) * idf[j])
                norm = math.sqrt(math.fsum(v * v for v in vals[start:]))
                if norm:
                    vals[start:] = [v / norm * block.weight for v in vals[start:]]
            offset += len(block.idf)
        norm = math.sqrt(math.fsum(v * v for v in vals))
        v = np.asarray(vals, dtype=np.float64) / (norm or 1.0)
        scores = v @ self.W[cols] + self.b if cols else self.b.copy()
        row = self._calibrate(scores[None, :])[0]
        order = np.argsort(-row, kind="stable")[: min(3, len(self.labels))]
        top = [(self.labels[i], float(row[i])) for i in order]
        return Prediction(label=top[0][0], confidence=top[0][1], top3=top)

    def __repr__(self) -> str:
        return f"RouterModel(labels={self.labels!r}, n_features={self.W.shape[0]})"


def _resolve_min_df(value: Any, n: int) -> int:
    if value == "auto" or value is None:
        return 2 if n >= 1000 else 1
    return int(value)


def _library_versions() -> dict[str, str]:
    import scipy
    import sklearn

    try:
        from importlib.metadata import version

        civicgrid_version = version("civicgrid")
    except Exception:  # not installed as a distribution (running from a checkout)
        civicgrid_version = "unknown"
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "civicgrid": civicgrid_version,
    }


def train(texts: Sequence[object], labels: Sequence[object], **params: Any) -> RouterModel:
    """Train a router on ``texts`` with ``labels`` (any label set of ≥ 2 labels, each with ≥ 2 examples).

    Keyword arguments override :data:`DEFAULT_PARAMS`. Raises ``ValueError`` on unusable input.
    """
    unknown = set(params) - set(DEFAULT_PARAMS)
    if unknown:
        raise TypeError(f"unknown training parameter(s): {', '.join(sorted(unknown))}")
    p = {**DEFAULT_PARAMS, **params}
    texts = list(texts)
    y_raw = [str(v) for v in labels]
    if len(texts) != len(y_raw):
        raise ValueError(f"texts and labels differ in length ({len(texts)} != {len(y_raw)})")
    label_set = sorted(set(y_raw))
    if len(label_set) < 2:
        raise ValueError("at least 2 distinct labels are needed")
    index = {lab: i for i, lab in enumerate(label_set)}
    y = np.array([index[v] for v in y_raw], dtype=np.int64)
    counts = np.bincount(y, minlength=len(label_set))
    if counts.min() < 2:
        rare = [label_set[i] for i in np.where(counts < 2)[0]]
        raise ValueError(f"every label needs at least 2 examples; too few for: {', '.join(rare)}")

    t0 = time.perf_counter()
    n = len(texts)
    min_df = _resolve_min_df(p["min_df"], n)
    docs = _prepare(texts, int(p["max_chars"]))
    blocks: list[_Block] = []
    for source, lo, hi, weight in p["blocks"]:
        if source not in docs:
            raise ValueError(f"unknown feature source {source!r} (use 'text' or 'title')")
        blocks.append(_Block.fit(source, (int(lo), int(hi)), float(weight), docs[source], min_df))
    x = _features(blocks, docs)
    if x.shape[1] == 0 or x.nnz == 0:
        raise ValueError("没有可用的文本特征（文本都为空？）/ no usable text features (are all texts empty?)")
    fit_kw = dict(
        C=float(p["C"]),
        alpha=float(p["alpha"]),
        max_iter=int(p["max_iter"]),
        random_state=int(p["random_state"]),
    )
    n_classes = len(label_set)

    # Calibration (and cross-validated metrics) from out-of-fold scores.
    folds = min(int(p["calibration_folds"]), int(counts.min()))
    cv: dict[str, Any] | None = None
    if folds >= 2:
        oof = np.zeros((n, n_classes))
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(p["random_state"]))
        for tr, te in skf.split(np.zeros(n), y):
            Wf, bf = _fit_nbsvm(x[tr], y[tr], n_classes, **fit_kw)
            oof[te] = np.asarray(x[te] @ Wf, dtype=np.float64) + bf
        calibrator = LogisticRegression(C=float(p["calibration_C"]), max_iter=1000)
        calibrator.fit(oof, y)
        calib_coef, calib_intercept = calibrator.coef_, calibrator.intercept_
        if n_classes == 2:  # binary LR has one row: expand to a two-column softmax
            calib_coef = np.vstack([-calib_coef[0] / 2, calib_coef[0] / 2])
            calib_intercept = np.array([-calib_intercept[0] / 2, calib_intercept[0] / 2])
        oof_pred = oof.argmax(axis=1)
        oof_proba = _softmax(oof @ calib_coef.T + calib_intercept)
        conf = oof_proba.max(axis=1)
        cv = {
            "method": f"stratified {folds}-fold on the training data (not grouped by near-duplicates)",
            "folds": folds,
            "accuracy": round(float(accuracy_score(y, oof_pred)), 4),
            "macro_f1": round(float(f1_score(y, oof_pred, average="macro")), 4),
            "ece": round(_ece(conf, oof_proba.argmax(axis=1) == y), 4),
            "per_class_f1": {lab: round(float(f), 4) for lab, f in zip(
                label_set, f1_score(y, oof_pred, average=None, labels=list(range(n_classes))), strict=True)},
        }
    else:
        calib_coef = np.eye(n_classes)
        calib_intercept = np.zeros(n_classes)

    W, b = _fit_nbsvm(x, y, n_classes, **fit_kw)
    seconds = time.perf_counter() - t0
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "civicgrid.router.nbsvm",
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "labels": label_set,
        "label_counts": {lab: int(c) for lab, c in zip(label_set, counts, strict=True)},
        "n_samples": n,
        "n_features": int(W.shape[0]),
        "params": {**p, "min_df": min_df},
        "cv": cv,
        "train_seconds": round(seconds, 2),
        "versions": _library_versions(),
    }
    return RouterModel(label_set, blocks, W, b, calib_coef, calib_intercept, meta)


def _ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top-1 confidence."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(total)


# --------------------------------------------------------------------------------------------- save / load
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _content_hash(file_hashes: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(file_hashes):
        h.update(f"{name}:{file_hashes[name]}\n".encode())
    return h.hexdigest()


def save(model: RouterModel, directory: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``directory`` (created if needed): weights.npz, vocab.json, meta.json."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "W": model.W.astype(np.float32),
        "b": model.b,
        "calib_coef": model.calib_coef,
        "calib_intercept": model.calib_intercept,
    }
    vocab_blocks = []
    for i, block in enumerate(model.blocks):
        arrays[f"idf_{i}"] = block.idf
        terms = [""] * len(block.vocabulary)
        for term, j in block.vocabulary.items():
            terms[j] = term
        vocab_blocks.append(
            {
                "source": block.source,
                "ngram_range": list(block.ngram_range),
                "weight": block.weight,
                "terms": terms,
            }
        )
    tmp_weights = d / (WEIGHTS_FILE + ".tmp")
    with open(tmp_weights, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp_weights, d / WEIGHTS_FILE)
    tmp_vocab = d / (VOCAB_FILE + ".tmp")
    tmp_vocab.write_text(
        json.dumps({"format_version": FORMAT_VERSION, "blocks": vocab_blocks}, ensure_ascii=False),
        encoding="utf-8",
    )
    os.replace(tmp_vocab, d / VOCAB_FILE)
    files = {name: _sha256(d / name) for name in (WEIGHTS_FILE, VOCAB_FILE)}
    meta = {**model.meta, "files": files, "content_hash": _content_hash(files)}
    model.meta = meta
    tmp_meta = d / (META_FILE + ".tmp")
    tmp_meta.write_text(
        json.dumps(meta, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8"
    )
    os.replace(tmp_meta, d / META_FILE)
    clear_cache(d)
    return d


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


_CACHE: dict[str, tuple[tuple[float, ...], RouterModel]] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache(directory: str | os.PathLike[str] | None = None) -> None:
    """Forget cached models (all, or the one loaded from ``directory``)."""
    with _CACHE_LOCK:
        if directory is None:
            _CACHE.clear()
        else:
            _CACHE.pop(str(Path(directory).resolve()), None)


def _stamp(d: Path) -> tuple[float, ...]:
    try:
        return tuple(os.stat(d / name).st_mtime_ns for name in (META_FILE, WEIGHTS_FILE, VOCAB_FILE))
    except FileNotFoundError as exc:
        raise ModelIntegrityError(
            f"模型目录不完整，缺少文件 {Path(exc.filename).name} / model directory {d} is incomplete: "
            f"missing {Path(exc.filename).name}"
        ) from None


def load(directory: str | os.PathLike[str], *, use_cache: bool = True) -> RouterModel:
    """Load a model written by :func:`save`, verifying its hashes. Cached per process by path and mtimes."""
    d = Path(directory).resolve()
    if not d.is_dir():
        raise ModelIntegrityError(f"模型目录不存在 / model directory not found: {directory}")
    stamp = _stamp(d)
    key = str(d)
    if use_cache:
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    model = _load_uncached(d)
    if use_cache:
        with _CACHE_LOCK:
            _CACHE[key] = (stamp, model)
    return model


def _load_uncached(d: Path) -> RouterModel:
    try:
        meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelIntegrityError(f"无法读取 meta.json / cannot read {d / META_FILE}: {exc}") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelIntegrityError(
            f"不支持的模型格式版本 / unsupported model format version {meta.get('format_version')!r} in {d}"
        )
    expected = meta.get("files") or {}
    actual = {name: _sha256(d / name) for name in (WEIGHTS_FILE, VOCAB_FILE)}
    if expected != actual or meta.get("content_hash") != _content_hash(actual):
        raise ModelIntegrityError(
            f"模型文件校验失败（文件被修改或损坏），拒绝加载 / model files in {d} do not match the hashes in "
            "meta.json (modified or corrupted); refusing to load"
        )
    with np.load(d / WEIGHTS_FILE, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    vocab = json.loads((d / VOCAB_FILE).read_text(encoding="utf-8"))
    blocks = []
    for i, vb in enumerate(vocab["blocks"]):
        blocks.append(
            _Block(
                source=vb["source"],
                ngram_range=(int(vb["ngram_range"][0]), int(vb["ngram_range"][1])),
                weight=float(vb["weight"]),
                vocabulary={t: j for j, t in enumerate(vb["terms"])},
                idf=arrays[f"idf_{i}"].astype(np.float64),
            )
        )
    return RouterModel(
        meta["labels"],
        blocks,
        arrays["W"],
        arrays["b"],
        arrays["calib_coef"],
        arrays["calib_intercept"],
        meta,
    )


# --------------------------------------------------------------------------------------------- evaluation
@dataclass
class Report:
    """Evaluation of a model on labelled texts. ``str(report)`` is a readable text table."""

    labels: list[str]
    n_samples: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: list[list[int]]  # rows: true label, columns: predicted label (order of ``labels``)
    unknown_labels: dict[str, int] = field(default_factory=dict)  # true labels the model does not know

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "n_samples": self.n_samples,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "unknown_labels": self.unknown_labels,
        }

    def format(self) -> str:
        lines = [
            f"样本数 / samples: {self.n_samples}",
            f"准确率 / accuracy: {self.accuracy:.4f}",
            f"宏平均F1 / macro-F1: {self.macro_f1:.4f}",
            "",
        ]
        name_w = max([_width("label")] + [_width(lab) for lab in self.labels]) + 2
        head = _pad("label", name_w) + f"{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"
        lines += [head, "-" * _width(head)]
        for lab in self.labels:
            m = self.per_class[lab]
            lines.append(
                _pad(lab, name_w)
                + f"{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{int(m['support']):>10d}"
            )
        lines += ["", "混淆矩阵 / confusion matrix (行=真实 rows=true, 列=预测 columns=predicted)"]
        keys = [f"[{i}]" for i in range(len(self.labels))]
        cell = max([len(k) for k in keys] + [len(str(v)) for row in self.confusion for v in row]) + 2
        lines.append(" " * (name_w + 5) + "".join(f"{k:>{cell}}" for k in keys))
        for i, (lab, row) in enumerate(zip(self.labels, self.confusion, strict=True)):
            lines.append(f"{keys[i]:<5}" + _pad(lab, name_w) + "".join(f"{v:>{cell}d}" for v in row))
        if self.unknown_labels:
            lines += [
                "",
                "模型不认识的真实标签（计为错误）/ true labels unknown to the model (counted as errors):",
            ]
            lines += [f"  {lab}: {n}" for lab, n in sorted(self.unknown_labels.items())]
        return "\n".join(lines)

    __str__ = format


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, width: int) -> str:
    return s + " " * max(0, width - _width(s))


def evaluate(model: RouterModel, texts: Sequence[object], labels: Sequence[object]) -> Report:
    """Accuracy, macro-F1, per-class precision/recall/F1 and confusion matrix of ``model`` on labelled texts.

    True labels that the model does not know count as errors; they are listed in the report and appear as
    extra rows of the confusion matrix.
    """
    texts = list(texts)
    y_true = [str(v) for v in labels]
    if len(texts) != len(y_true):
        raise ValueError(f"texts and labels differ in length ({len(texts)} != {len(y_true)})")
    y_pred = [p.label for p in model.predict(texts)] if texts else []
    known = set(model.labels)
    unknown: dict[str, int] = {}
    for v in y_true:
        if v not in known:
            unknown[v] = unknown.get(v, 0) + 1
    all_labels = list(model.labels) + sorted(unknown)
    if texts:
        prec, rec, f1, sup = precision_recall_fscore_support(
            y_true, y_pred, labels=all_labels, zero_division=0
        )
        cm = confusion_matrix(y_true, y_pred, labels=all_labels)
        predicted = set(y_pred)
        present = [i for i, lab in enumerate(all_labels) if sup[i] > 0 or lab in predicted]
        macro = float(np.mean(f1[present])) if present else 0.0
        acc = float(accuracy_score(y_true, y_pred))
    else:
        prec = rec = f1 = np.zeros(len(all_labels))
        sup = np.zeros(len(all_labels), dtype=int)
        cm = np.zeros((len(all_labels), len(all_labels)), dtype=int)
        macro = acc = 0.0
    per_class = {
        lab: {
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(sup[i]),
        }
        for i, lab in enumerate(all_labels)
    }
    return Report(
        labels=all_labels,
        n_samples=len(texts),
        accuracy=acc,
        macro_f1=macro,
        per_class=per_class,
        confusion=cm.astype(int).tolist(),
        unknown_labels=unknown,
    )
