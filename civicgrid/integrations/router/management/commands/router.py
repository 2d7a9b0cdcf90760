"""``civicgrid router train|eval|predict``: train, evaluate and apply the text router (消息分拨模型).

civicgrid router train   --csv history.csv [--text-column text] [--label-column label] --out MODEL_DIR
civicgrid router eval    --model MODEL_DIR --csv labelled.csv [--text-column text] [--label-column label]
civicgrid router predict --model MODEL_DIR --csv messages.csv --out predictions.csv [--id-column id]

Versions (the model the platform uses at intake):
civicgrid router train … --register [--activate] [--label-kind department|category|auto]
civicgrid router versions                      list registered versions (* = active)
civicgrid router activate VERSION              make a version live (an older one = rollback)
civicgrid router retrain [--no-activate]       train from the platform's own closed cases
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from civicgrid.integrations.router.cli import RouterInputError, cmd_eval, cmd_predict, cmd_train
from civicgrid.integrations.router.model import ModelIntegrityError


class Command(BaseCommand):
    help = "文本分拨模型：训练、评估、预测 / text router: train, evaluate, predict"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", title="actions", metavar="{train,eval,predict}")
        sub.required = True

        train = sub.add_parser("train", help="从带标签的 CSV 训练模型 / train a model from a labelled CSV")
        train.add_argument("--csv", required=True, help="带标签的 CSV / labelled CSV file")
        train.add_argument("--text-column", default="text", help="文本列 / text column (default: text)")
        train.add_argument("--label-column", default="label", help="标签列 / label column (default: label)")
        train.add_argument("--out", required=True, help="模型输出目录 / model output directory")
        train.add_argument("--register", action="store_true",
                           help="登记为平台模型版本 / register the model as a platform model version")
        train.add_argument("--activate", action="store_true", help="登记后启用 / activate after registering")
        train.add_argument("--label-kind", default="auto", choices=["auto", "department", "category"],
                           help="标签含义 / what the labels are (default: auto)")

        ev = sub.add_parser("eval", help="在带标签的 CSV 上评估模型 / evaluate a model on a labelled CSV")
        ev.add_argument("--model", required=True, help="模型目录 / model directory")
        ev.add_argument("--csv", required=True, help="带标签的 CSV / labelled CSV file")
        ev.add_argument("--text-column", default="text")
        ev.add_argument("--label-column", default="label")

        pr = sub.add_parser("predict", help="预测 CSV 中每条消息的分类 / route each message of a CSV")
        pr.add_argument("--model", required=True, help="模型目录 / model directory")
        pr.add_argument("--csv", required=True, help="输入 CSV（id,text）/ input CSV (id,text)")
        pr.add_argument("--out", required=True, help="输出 CSV / output CSV (id,label,confidence,…)")
        pr.add_argument("--text-column", default="text")
        pr.add_argument("--id-column", default="id")
        pr.add_argument("--excel-bom", action="store_true", help="写入 UTF-8 BOM 以便 Excel 打开 / add a BOM")

        sub.add_parser("versions", help="列出模型版本 / list model versions")
        act = sub.add_parser("activate", help="启用（或回滚到）某个版本 / activate (or roll back to) a version")
        act.add_argument("version", help="版本号或 id / version string or id")
        rt = sub.add_parser("retrain", help="用已结案事件重新训练 / retrain from closed cases")
        rt.add_argument("--no-activate", action="store_true", help="只登记不启用 / register without activating")

    def _register(self, options) -> str:
        from pathlib import Path

        from civicgrid.integrations.router import versions

        v = versions.register(options["out"], actor="command", source=f"csv:{Path(options['csv']).name}",
                              label_kind=options["label_kind"], activate=options["activate"])
        state = "，已启用 / active" if v.is_active else "（未启用 / not active）"
        return f"已登记模型版本 / registered model version {v.version}{state}: {v.path}"

    def _versions(self, action, options) -> str:
        from civicgrid.foundation.core.errors import CivicgridError
        from civicgrid.integrations.router import versions
        from civicgrid.integrations.router.models import RouterModelVersion

        try:
            if action == "activate":
                v = versions.activate_version(options["version"], actor="command")
                return f"已启用模型版本 / activated model version {v.version}"
            if action == "retrain":
                v = versions.train_from_cases(actor="command", activate=not options["no_activate"])
                cv = (v.metrics.get("cv") or {}).get("macro_f1")
                return (f"已从 {v.n_samples} 件已结案事件训练并登记 / retrained from {v.n_samples} closed cases: "
                        f"{v.version}{' (active)' if v.is_active else ''}" + (f", CV macro-F1 {cv}" if cv else ""))
        except CivicgridError as exc:
            raise CommandError(exc.message) from exc
        lines = []
        for v in RouterModelVersion.objects.order_by("-created_at", "-id"):
            cv = (v.metrics.get("cv") or {}).get("macro_f1")
            lines.append(f"{'*' if v.is_active else ' '} {v.version}  {v.created_at:%Y-%m-%d %H:%M}  "
                         f"{v.n_samples:>6d} samples  {len(v.labels)} labels  macro-F1 {cv if cv is not None else '—'}"
                         f"  {v.source}")
        return "\n".join(lines) or "尚无模型版本 / no model versions yet"

    def handle(self, *args, **options):
        action = options["action"]
        if action in ("versions", "activate", "retrain"):
            self.stdout.write(self._versions(action, options))
            return
        try:
            if action == "train":
                report = cmd_train(
                    options["csv"], options["text_column"], options["label_column"], options["out"]
                )
                if options.get("register"):
                    report += "\n" + self._register(options)
            elif action == "eval":
                report = cmd_eval(
                    options["model"], options["csv"], options["text_column"], options["label_column"]
                )
            elif action == "predict":
                report = cmd_predict(
                    options["model"],
                    options["csv"],
                    options["out"],
                    options["text_column"],
                    options["id_column"],
                    excel_bom=options["excel_bom"],
                )
            else:  # pragma: no cover - argparse rejects other values
                raise CommandError(f"未知操作 / unknown action: {action}")
        except (RouterInputError, ModelIntegrityError) as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"文件读写失败 / file error: {exc}") from exc
        self.stdout.write(report)
