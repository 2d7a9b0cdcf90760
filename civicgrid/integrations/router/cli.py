"""Command functions of the text router: train, eval, predict on CSV files.

Plain functions (no argparse, no Django) so that the management command ``civicgrid router …``, tests and
scripts share them. Each returns a human-readable report (``str``) and raises :class:`RouterInputError` with a
Chinese + English message on bad input (missing file or column, empty file, too few labels or examples) and
:class:`~civicgrid.integrations.router.model.ModelIntegrityError` on a broken model directory.

CSV files are read as UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 as a fallback (files saved by
Excel on Chinese Windows); the delimiter is a comma, or a tab when the header line has tabs and no commas.

    from civicgrid.integrations.router.cli import cmd_train, cmd_eval, cmd_predict
    print(cmd_train("history.csv", "text", "label", "var/models/router"))
    print(cmd_eval("var/models/router", "holdout.csv"))
    print(cmd_predict("var/models/router", "new.csv", "predictions.csv"))
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from collections import Counter
from pathlib import Path

from . import model as router_model
from .model import ModelIntegrityError, Prediction

__all__ = [
    "ModelIntegrityError",
    "PREDICT_COLUMNS",
    "RouterInputError",
    "cmd_eval",
    "cmd_predict",
    "cmd_train",
    "read_csv",
]

#: Columns of the file written by :func:`cmd_predict`.
PREDICT_COLUMNS = ["id", "label", "confidence", "label_2", "confidence_2", "label_3", "confidence_3"]

_MAX_LISTED = 10


class RouterInputError(ValueError):
    """Unusable input file or arguments; the message is in Chinese and English."""


def _raise_field_limit() -> None:
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def _decode(data: bytes, path: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise RouterInputError(
            f"无法识别文件编码（请使用 UTF-8 或 GB18030）/ cannot decode {path}: use UTF-8 or GB18030"
        ) from None


def read_csv(path: str | os.PathLike[str], required: list[str]) -> list[dict[str, str]]:
    """Read a CSV file with a header row; check that the ``required`` columns exist and there is data."""
    p = Path(path)
    if not p.is_file():
        raise RouterInputError(f"找不到文件 / file not found: {path}")
    data = p.read_bytes()
    text = _decode(data, str(path))
    if not text.strip():
        raise RouterInputError(f"文件为空 / the file is empty: {path}")
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if ("\t" in first_line and "," not in first_line) else ","
    _raise_field_limit()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise RouterInputError(f"文件为空 / the file is empty: {path}") from None
    except csv.Error as exc:
        raise RouterInputError(f"CSV 格式错误 / malformed CSV in {path}: {exc}") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        found = ", ".join(h for h in header if h) or "（无 / none）"
        raise RouterInputError(
            f"缺少列 / missing column(s): {', '.join(missing)}（文件 / file {path}；"
            f"已有列 / columns found: {found}）"
        )
    rows: list[dict[str, str]] = []
    try:
        for values in reader:
            if not values or all(not v.strip() for v in values):
                continue  # blank line
            values = values + [""] * (len(header) - len(values))
            rows.append(dict(zip(header, values, strict=False)))
    except csv.Error as exc:
        raise RouterInputError(
            f"CSV 格式错误（第 {reader.line_num} 行）/ malformed CSV in {path} at line {reader.line_num}: {exc}"
        ) from None
    if not rows:
        raise RouterInputError(f"文件没有数据行（只有表头）/ the file has a header but no data rows: {path}")
    return rows


def _labelled(csv_path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    rows = read_csv(csv_path, [text_column, label_column])
    texts = [r[text_column] for r in rows]
    labels = [r[label_column].strip() for r in rows]
    empty = [i + 2 for i, lab in enumerate(labels) if not lab]  # +2: header is line 1
    if empty:
        listed = ", ".join(map(str, empty[:_MAX_LISTED])) + (" …" if len(empty) > _MAX_LISTED else "")
        raise RouterInputError(
            f"有 {len(empty)} 行标签为空（行号 {listed}）/ {len(empty)} row(s) have an empty "
            f"'{label_column}' (lines {listed})"
        )
    return texts, labels


def _check_label_counts(labels: list[str], label_column: str) -> Counter[str]:
    counts = Counter(labels)
    if len(counts) < 2:
        only = next(iter(counts)) if counts else ""
        raise RouterInputError(
            f"至少需要 2 个不同的标签，文件中只有 {len(counts)} 个（{only}）/ at least 2 different labels are "
            f"needed in column '{label_column}', found {len(counts)} ({only})"
        )
    rare = sorted(lab for lab, n in counts.items() if n < 2)
    if rare:
        listed = ", ".join(rare[:_MAX_LISTED]) + (" …" if len(rare) > _MAX_LISTED else "")
        raise RouterInputError(
            f"每个标签至少需要 2 条样本，以下标签只有 1 条：{listed} / every label needs at least 2 examples; "
            f"these have only 1: {listed}"
        )
    return counts


def _pad(s: str, width: int) -> str:
    return router_model._pad(s, width)


def cmd_train(
    csv_path: str | os.PathLike[str],
    text_column: str = "text",
    label_column: str = "label",
    out_dir: str | os.PathLike[str] | None = None,
    **params,
) -> str:
    """Train a router from a labelled CSV and save it to ``out_dir``. Returns a report.

    ``params`` override :data:`~civicgrid.integrations.router.model.DEFAULT_PARAMS` (e.g. ``C=1.0``).
    """
    if out_dir is None or str(out_dir).strip() == "":
        raise RouterInputError("请指定模型输出目录 / the output model directory (--out) is required")
    texts, labels = _labelled(csv_path, text_column, label_column)
    counts = _check_label_counts(labels, label_column)
    started = time.perf_counter()
    try:
        model = router_model.train(texts, labels, **params)
    except TypeError as exc:
        raise RouterInputError(f"训练参数错误 / bad training parameter: {exc}") from None
    except ValueError as exc:
        raise RouterInputError(f"无法训练 / cannot train: {exc}") from None
    seconds = time.perf_counter() - started
    out = router_model.save(model, out_dir)
    meta = model.meta
    lines = [
        f"已训练并保存路由模型 / trained and saved the router model: {out}",
        f"样本数 / samples: {meta['n_samples']}   标签数 / labels: {len(model.labels)}   "
        f"特征数 / features: {meta['n_features']}   耗时 / time: {seconds:.1f} s",
    ]
    cv = meta.get("cv")
    if cv:
        lines.append(
            f"交叉验证 / cross-validation ({cv['folds']}-fold, stratified): accuracy {cv['accuracy']:.4f}, "
            f"macro-F1 {cv['macro_f1']:.4f}, ECE {cv['ece']:.4f}"
        )
    lines.append(f"内容哈希 / content hash: {meta['content_hash']}")
    lines.append("标签 / labels:")
    width = max(router_model._width(lab) for lab in counts) + 2
    for lab in model.labels:
        lines.append(f"  {_pad(lab, width)}{counts[lab]:>7d}")
    return "\n".join(lines)


def cmd_eval(
    model_dir: str | os.PathLike[str],
    csv_path: str | os.PathLike[str],
    text_column: str = "text",
    label_column: str = "label",
) -> str:
    """Evaluate a saved model on a labelled CSV: accuracy, macro-F1, per-class P/R/F1, confusion matrix."""
    model = router_model.load(model_dir)
    texts, labels = _labelled(csv_path, text_column, label_column)
    report = router_model.evaluate(model, texts, labels)
    head = [
        f"模型 / model: {Path(model_dir)}  (created {model.meta.get('created_at', '?')}, "
        f"hash {str(model.meta.get('content_hash', ''))[:12]})",
        f"数据 / data: {csv_path}",
        "",
    ]
    return "\n".join(head) + report.format()


def _fmt_conf(value: float) -> str:
    return f"{value:.4f}"


def cmd_predict(
    model_dir: str | os.PathLike[str],
    csv_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    text_column: str = "text",
    id_column: str = "id",
    *,
    excel_bom: bool = False,
    batch_size: int = 2000,
) -> str:
    """Route every row of ``csv_path`` (``id,text``) and write ``out_path`` with :data:`PREDICT_COLUMNS`.

    ``excel_bom=True`` writes a UTF-8 BOM so that Excel opens the file with the right encoding.
    """
    model = router_model.load(model_dir)
    rows = read_csv(csv_path, [id_column, text_column])
    out = Path(out_path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    predictions: list[Prediction] = []
    for start in range(0, len(rows), batch_size):
        predictions.extend(model.predict([r[text_column] for r in rows[start : start + batch_size]]))
    seconds = time.perf_counter() - started
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8-sig" if excel_bom else "utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(PREDICT_COLUMNS)
        for row, pred in zip(rows, predictions, strict=True):
            cells = [row[id_column]]
            for rank in range(3):
                if rank < len(pred.top3):
                    lab, conf = pred.top3[rank]
                    cells += [lab, _fmt_conf(conf)]
                else:
                    cells += ["", ""]
            w.writerow(cells)
    os.replace(tmp, out)
    by_label = Counter(p.label for p in predictions)
    low = sum(1 for p in predictions if p.confidence < 0.5)
    lines = [
        f"已预测 {len(predictions)} 条，结果写入 / predicted {len(predictions)} rows → {out}  "
        f"({seconds * 1000 / max(1, len(predictions)):.2f} ms/条 per row)",
        f"置信度低于 0.5 的 / confidence below 0.5: {low}",
        "预测标签分布 / predicted labels:",
    ]
    width = max([router_model._width(lab) for lab in model.labels] + [4]) + 2
    for lab in model.labels:
        if by_label[lab]:
            lines.append(f"  {_pad(lab, width)}{by_label[lab]:>7d}")
    return "\n".join(lines)
