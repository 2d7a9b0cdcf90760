"""Django's ``{# … #}`` comment ends at the end of its line: one spread over several lines is printed on the page
as text (the board once showed a developer's note). Every template's short comments close on their own line;
longer ones use ``{% comment %}``."""

from pathlib import Path

import civicgrid

ROOT = Path(civicgrid.__file__).parent


def test_no_short_comment_spans_lines():
    found = []
    for path in sorted(ROOT.rglob("templates/**/*")):
        if not path.is_file() or path.suffix not in {".html", ".txt", ".xml", ".svg"}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            rest = line
            while "{#" in rest:
                rest = rest[rest.index("{#") + 2:]
                if "#}" not in rest:
                    found.append(f"{path.relative_to(ROOT)}:{number}")
                    break
                rest = rest[rest.index("#}") + 2:]
    assert found == [], f"{{# … #}} spread over several lines is shown on the page: {found}"

