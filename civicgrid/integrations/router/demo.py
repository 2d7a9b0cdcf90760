"""Demo stage: a router model trained on the product's own made-up example set, registered and activated.

Idempotent: when a demo version with its files is already registered, nothing is written. The example set
(`example_data/messages.csv`) is generated text, never the district's real messages.
"""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent / "example_data" / "messages.csv"
DEMO_SOURCE = "demo:example_data/messages.csv"
# Both languages, " / " apart: the model page shows the reader's half (`ui.language.one_language`).
DEMO_NOTE = "演示模型（示例数据） / demo model (example data)"


def load_demo_router() -> str:
    from . import versions
    from .cli import _labelled
    from .model import save, train
    from .models import LabelKind, RouterModelVersion

    existing = [v for v in RouterModelVersion.objects.filter(source=DEMO_SOURCE) if Path(v.path).is_dir()]
    if existing:
        return "已存在，未改动"
    texts, labels = _labelled(EXAMPLE, "text", "label")
    version = versions.new_version_id()
    dest = versions.models_root() / version
    save(train(texts, labels), dest)
    activate = not RouterModelVersion.objects.filter(is_active=True).exists()
    v = versions.register(dest, actor="demo", source=DEMO_SOURCE, label_kind=LabelKind.DEPARTMENT,
                          activate=activate, version=version, note=DEMO_NOTE)
    cv = (v.metrics.get("cv") or {}).get("macro_f1")
    return f"分拨模型 {v.version}{'（已启用）' if v.is_active else ''}，{v.n_samples} 条示例，macro-F1 {cv}"
