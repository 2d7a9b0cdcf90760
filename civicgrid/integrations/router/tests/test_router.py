"""Tests of the text router on its own example data (no database, no Django needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from civicgrid.integrations.router import model as router
from civicgrid.integrations.router.cli import (
    PREDICT_COLUMNS,
    RouterInputError,
    cmd_eval,
    cmd_predict,
    cmd_train,
    read_csv,
)
from civicgrid.integrations.router.model import ModelIntegrityError
from civicgrid.integrations.router.textnorm import MAX_CHARS, normalize, split_title, to_simplified

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "messages.csv"


def _rows() -> list[dict[str, str]]:
    with open(EXAMPLE, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("router") / "model"
    report = cmd_train(EXAMPLE, "text", "label", out)
    return out, report


@pytest.fixture(scope="module")
def model(trained) -> router.RouterModel:
    return router.load(trained[0])


# --------------------------------------------------------------------------------------------- textnorm
class TestNormalize:
    def test_fullwidth_to_halfwidth_and_lowercase(self):
        assert normalize("ＡＢＣ小区，Ｗｉｆｉ没信号！") == "abc小区wifi没信号"

    def test_traditional_to_simplified(self):
        assert normalize("路燈不亮，請儘快處理。") == "路灯不亮请尽快处理"
        assert to_simplified("區應急局") == "区应急局"
        # characters that are also ordinary simplified characters are left alone
        assert to_simplified("著名") == "著名"

    def test_punctuation_and_whitespace_removed(self):
        assert normalize("  垃圾 满溢\n\t【投诉】“臭”…… 😀 ") == "垃圾满溢投诉臭"
        assert normalize("垃圾满溢") == normalize("垃圾，满溢。") == normalize("垃圾　满溢！")

    def test_digits_and_phone_numbers_masked(self):
        assert normalize("电话：138-1234-5678") == "电话P"
        assert normalize("座机 0352-1234567") == "座机P"
        assert normalize("２０１９年３月") == "0000年0月"
        assert normalize("订单号123456789") == "订单号L"

    @pytest.mark.parametrize("empty", [None, "", "   ", "，。！？", "\n\t", float("nan")])
    def test_empty(self, empty):
        assert normalize(empty) == ""
        assert split_title(empty) == ("", "")

    def test_very_long_text_truncated(self):
        long = "小区门口垃圾满溢" * 50_000
        out = normalize(long)
        assert len(out) == MAX_CHARS
        assert len(normalize(long, max_chars=100)) == 100

    def test_non_string(self):
        assert normalize(12345) == "00000"

    def test_split_title(self):
        assert split_title("井盖缺失\n永泰街道门口井盖丢了") == ("井盖缺失", "井盖缺失永泰街道门口井盖丢了")
        assert split_title("下水道堵塞　　污水冒到路面")[0] == "下水道堵塞"
        title, full = split_title("没有标题的一段话，我们小区门口的垃圾桶满了好几天都没有人来清运")
        assert title == full[:25]


# --------------------------------------------------------------------------------------------- model
class TestModel:
    def test_train_report(self, trained):
        out, report = trained
        assert "387" in report
        assert "区水务局" in report
        assert "macro-F1" in report
        assert (out / "meta.json").is_file()

    def test_meta(self, trained):
        meta = json.loads((trained[0] / "meta.json").read_text(encoding="utf-8"))
        for key in ("created_at", "labels", "n_samples", "params", "cv", "versions", "content_hash", "files"):
            assert key in meta
        assert meta["n_samples"] == 387
        assert len(meta["labels"]) == 7
        assert meta["cv"]["macro_f1"] > 0.8
        assert "scikit-learn" in meta["versions"]

    def test_predict_top3(self, model):
        preds = model.predict(["小区垃圾桶满了好几天没人清运", "楼道里燃气味很浓", "", "饭店油烟直排"])
        assert [p.label for p in preds][:2] == ["区城管局", "区应急局"]
        assert preds[3].label == "区生态环境局"
        for p in preds:
            assert len(p.top3) == 3
            confs = [c for _, c in p.top3]
            assert confs == sorted(confs, reverse=True)
            assert sum(confs) <= 1.0 + 1e-9
            assert all(0.0 <= c <= 1.0 for c in confs)
            assert (p.label, p.confidence) == p.top3[0]
            assert len({lab for lab, _ in p.top3}) == 3
        assert preds[2].confidence < 0.5  # empty text: no confident guess

    def test_probabilities_sum_to_one(self, model):
        proba = model.predict_proba(["电梯坏了", "水压太低", "狗叫扰民"])
        assert proba.shape == (3, 7)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)

    def test_raw_text_variants_agree(self, model):
        plain = "楼道里有很浓的燃气味担心泄漏"
        variants = [
            "楼道里有很浓的燃气味，担心泄漏！",
            "【求助】燃气泄漏味\n樓道裡有很濃的燃氣味，擔心洩漏。",
            "楼道里有很浓的燃气味　担心泄漏 联系电话：13912345678",
            "ＡＢ楼道里有很浓的燃气味，担心泄漏",
        ]
        assert {p.label for p in model.predict([plain, *variants])} == {"区应急局"}

    def test_held_out_accuracy(self):
        rows = _rows()
        train_rows, test_rows = rows[::2] + rows[1::4], rows[3::4]
        m = router.train([r["text"] for r in train_rows], [r["label"] for r in train_rows])
        report = router.evaluate(m, [r["text"] for r in test_rows], [r["label"] for r in test_rows])
        assert report.accuracy > 0.85
        assert report.macro_f1 > 0.85

    def test_save_load_roundtrip(self, model, tmp_path):
        texts = ["井盖丢了", "超市卖过期牛奶", "邻居吵架"]
        router.save(model, tmp_path / "copy")
        again = router.load(tmp_path / "copy", use_cache=False)
        np.testing.assert_allclose(
            again.predict_proba(texts), model.predict_proba(texts), rtol=1e-6, atol=1e-9
        )
        assert again.labels == model.labels

    def test_load_is_cached_by_path_and_mtime(self, model, tmp_path):
        router.save(model, tmp_path / "m")
        first = router.load(tmp_path / "m")
        assert router.load(tmp_path / "m") is first
        router.save(model, tmp_path / "m")  # rewritten: new mtimes
        assert router.load(tmp_path / "m") is not first

    def test_tampered_model_is_refused(self, model, tmp_path):
        d = router.save(model, tmp_path / "m")
        vocab = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
        vocab["blocks"][0]["weight"] = 3.0
        (d / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        with pytest.raises(ModelIntegrityError):
            router.load(d)

    def test_missing_model_files(self, tmp_path):
        with pytest.raises(ModelIntegrityError):
            router.load(tmp_path / "nothing")
        (tmp_path / "empty").mkdir()
        with pytest.raises(ModelIntegrityError):
            router.load(tmp_path / "empty")

    def test_two_labels_and_top3_shorter(self):
        m = router.train(["垃圾满了", "垃圾没人收", "停水了", "水压低"], ["城管", "城管", "水务", "水务"])
        p = m.predict_one("垃圾桶满了")
        assert p.label == "城管"
        assert len(p.top3) == 2

    def test_predict_one_equals_batch_prediction(self, model):
        texts = [r["text"] for r in _rows()[:200]] + ["", "   ", "x" * 5000, "井盖\n丢失了，很危险", "zzzz"]
        batch = model.predict(texts)
        for text, expected in zip(texts, batch, strict=True):
            one = model.predict_one(text)
            assert one.label == expected.label
            assert [lab for lab, _ in one.top3] == [lab for lab, _ in expected.top3]
            assert np.allclose([c for _, c in one.top3], [c for _, c in expected.top3], atol=1e-9)

    def test_train_rejects_bad_labels(self):
        with pytest.raises(ValueError):
            router.train(["a", "b"], ["x", "x"])
        with pytest.raises(ValueError):
            router.train(["a", "b", "c"], ["x", "x", "y"])
        with pytest.raises(TypeError):
            router.train(["a", "b", "c", "d"], ["x", "x", "y", "y"], nonsense=1)


class TestReport:
    def test_evaluate_contents(self, model):
        rows = _rows()[:120]
        texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
        report = router.evaluate(model, texts + ["新的问题"], labels + ["区教育局"])
        assert report.n_samples == 121
        assert 0.9 < report.accuracy < 1.0  # the unknown label counts as an error
        assert report.unknown_labels == {"区教育局": 1}
        assert set(report.per_class) == set(model.labels) | {"区教育局"}
        assert set(report.per_class["区水务局"]) == {"precision", "recall", "f1", "support"}
        assert len(report.confusion) == len(report.labels) == 8
        assert sum(map(sum, report.confusion)) == 121
        text = str(report)
        for needle in (
            "accuracy",
            "macro-F1",
            "precision",
            "recall",
            "confusion matrix",
            "区生态环境局",
            "区教育局",
        ):
            assert needle in text


# --------------------------------------------------------------------------------------------- cli
class TestCli:
    def test_eval(self, trained):
        out = cmd_eval(trained[0], EXAMPLE)
        assert "accuracy" in out and "macro-F1" in out and "社区居委会" in out

    def test_predict_csv(self, trained, tmp_path):
        src = _write(
            tmp_path / "in.csv",
            [["id", "text"], ["a1", "路灯不亮，晚上很黑"], ["a2", ""], ["a3", "工地夜里施工噪音很大"]],
        )
        summary = cmd_predict(trained[0], src, tmp_path / "out" / "pred.csv")
        assert "3" in summary
        with open(tmp_path / "out" / "pred.csv", encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == PREDICT_COLUMNS
        assert [r[0] for r in rows[1:]] == ["a1", "a2", "a3"]
        assert rows[1][1] == "区城管局"
        assert rows[3][1] == "区生态环境局"
        for r in rows[1:]:
            confs = [float(r[2]), float(r[4]), float(r[6])]
            assert confs == sorted(confs, reverse=True) and sum(confs) <= 1.0 + 1e-3

    def test_predict_excel_bom(self, trained, tmp_path):
        src = _write(tmp_path / "in.csv", [["id", "text"], ["1", "电梯坏了"]])
        cmd_predict(trained[0], src, tmp_path / "p.csv", excel_bom=True)
        assert (tmp_path / "p.csv").read_bytes().startswith(b"\xef\xbb\xbfid,label")

    def test_train_with_other_columns_bom_and_gb18030(self, tmp_path):
        rows = _rows()[:80]
        data = [["编号", "内容", "部门"]] + [[r["id"], r["text"], r["label"]] for r in rows]
        for enc in ("utf-8-sig", "gb18030"):
            src = _write(tmp_path / f"{enc}.csv", data, encoding=enc)
            report = cmd_train(src, "内容", "部门", tmp_path / f"m-{enc}")
            assert "80" in report
        src = tmp_path / "tab.tsv"
        src.write_text(
            "\n".join(
                "\t".join(r)
                for r in [
                    ["id", "text", "label"],
                    ["1", "垃圾", "甲"],
                    ["2", "垃圾桶", "甲"],
                    ["3", "停水", "乙"],
                    ["4", "水压", "乙"],
                ]
            ),
            encoding="utf-8",
        )
        assert "4" in cmd_train(src, "text", "label", tmp_path / "m-tab")

    def test_missing_column(self, tmp_path):
        src = _write(tmp_path / "a.csv", [["id", "content", "label"], ["1", "x", "y"]])
        with pytest.raises(RouterInputError, match="缺少列.*missing column.*text"):
            cmd_train(src, "text", "label", tmp_path / "m")

    def test_empty_file(self, tmp_path):
        (tmp_path / "e.csv").write_bytes(b"")
        with pytest.raises(RouterInputError, match="文件为空.*empty"):
            cmd_train(tmp_path / "e.csv", "text", "label", tmp_path / "m")
        (tmp_path / "h.csv").write_text("id,text,label\n", encoding="utf-8")
        with pytest.raises(RouterInputError, match="no data rows"):
            cmd_train(tmp_path / "h.csv", "text", "label", tmp_path / "m")

    def test_missing_file(self, tmp_path):
        with pytest.raises(RouterInputError, match="找不到文件.*not found"):
            cmd_train(tmp_path / "nope.csv", "text", "label", tmp_path / "m")

    def test_fewer_than_two_labels(self, tmp_path):
        src = _write(
            tmp_path / "a.csv", [["id", "text", "label"], ["1", "垃圾", "城管"], ["2", "路灯", "城管"]]
        )
        with pytest.raises(RouterInputError, match="至少需要 2 个不同的标签.*at least 2 different labels"):
            cmd_train(src, "text", "label", tmp_path / "m")

    def test_label_with_one_example(self, tmp_path):
        src = _write(
            tmp_path / "a.csv",
            [["id", "text", "label"], ["1", "垃圾", "城管"], ["2", "路灯", "城管"], ["3", "停水", "水务"]],
        )
        with pytest.raises(RouterInputError, match="水务.*at least 2 examples"):
            cmd_train(src, "text", "label", tmp_path / "m")

    def test_empty_label(self, tmp_path):
        src = _write(
            tmp_path / "a.csv",
            [["id", "text", "label"], ["1", "垃圾", "城管"], ["2", "路灯", ""], ["3", "停水", "水务"]],
        )
        with pytest.raises(RouterInputError, match="empty 'label'.*lines 3"):
            cmd_train(src, "text", "label", tmp_path / "m")

    def test_predict_missing_id_column(self, trained, tmp_path):
        src = _write(tmp_path / "a.csv", [["text"], ["垃圾"]])
        with pytest.raises(RouterInputError, match="missing column.*id"):
            cmd_predict(trained[0], src, tmp_path / "p.csv")

    def test_bad_encoding(self, tmp_path):
        (tmp_path / "b.csv").write_bytes(b"id,text,label\n1,\xff\xfe\xfa\xfb,x\n")
        with pytest.raises(RouterInputError, match="encoding|decode|编码"):
            read_csv(tmp_path / "b.csv", ["text"])

    def test_all_texts_empty(self, tmp_path):
        src = _write(
            tmp_path / "a.csv", [["text", "label"], ["", "甲"], ["，", "甲"], ["", "乙"], ["!", "乙"]]
        )
        with pytest.raises(RouterInputError, match="no usable text"):
            cmd_train(src, "text", "label", tmp_path / "m")

    def test_out_dir_required(self):
        with pytest.raises(RouterInputError, match="--out"):
            cmd_train(EXAMPLE, "text", "label", None)
