"""``civicgrid router train|eval|predict``: train, evaluate and apply the text router (消息分拨模型).

civicgrid router train   --csv history.csv [--text-column text] [--label-column label] --out MODEL_DIR
civicgrid router eval    --model MODEL_DIR --csv labelled.csv [--text-column text] [--label-column label]
civicgrid router predict --model MODEL_DIR --csv messages.csv --out predictions.csv [--id-column id]
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

    def handle(self, *args, **options):
        action = options["action"]
        try:
            if action == "train":
                report = cmd_train(
                    options["csv"], options["text_column"], options["label_column"], options["out"]
                )
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
