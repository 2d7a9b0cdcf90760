"""On a phone a responsive list shows each row as a card, each cell as "its column's label  value" (the label
comes from the cell's data-label): a cell without one is a bare number nobody can read. Checked on every
template: each cell of a responsive table's body carries data-label (empty only for a checkbox or a button)."""

from __future__ import annotations

import re
from pathlib import Path

import civicgrid

ROOT = Path(civicgrid.__file__).parent
TABLE = re.compile(r'<table class="list responsive"(.*?)</table>', re.S)
BODY = re.compile(r"<tbody>(.*?)</tbody>", re.S)
UNLABELLED = re.compile(r"<td(?![^>]*data-label)(?![^>]*colspan)[^>]*>")


def test_every_cell_of_a_responsive_table_is_labelled():
    templates = sorted(ROOT.glob("**/templates/**/*.html"))
    assert len(templates) > 50
    missing = []
    for path in templates:
        for table in TABLE.finditer(path.read_text(encoding="utf-8")):
            for body in BODY.finditer(table.group(1)):
                missing += [f"{path.relative_to(ROOT)}: {m.group(0)[:60]}" for m in UNLABELLED.finditer(body.group(1))]
    assert not missing, "cells without data-label:\n" + "\n".join(missing)
