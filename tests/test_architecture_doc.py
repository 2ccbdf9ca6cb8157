"""docs/ARCHITECTURE.md's module map is the package as it is (issue 13: the doc tells the truth)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "ARCHITECTURE.md"
MAP = re.compile(r"<!-- module-map:start -->\n(.*?)<!-- module-map:end -->", re.DOTALL)
ROW = re.compile(r"^\| `(reconciler/[^`]+\.py)` \| (.*) \|$", re.MULTILINE)
MAX_LINES = 500


def package_modules() -> set[str]:
    return {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "reconciler").rglob("*.py")
        if "__pycache__" not in path.parts
    }


def mapped() -> dict[str, str]:
    found = MAP.search(DOC.read_text(encoding="utf-8"))
    assert found, "docs/ARCHITECTURE.md has no module map between its markers"
    return dict(ROW.findall(found.group(1)))


def test_every_module_the_map_names_exists() -> None:
    missing = sorted(set(mapped()) - package_modules())
    assert missing == [], f"the map names modules that do not exist: {missing}"


def test_every_module_of_the_package_is_in_the_map() -> None:
    unmapped = sorted(package_modules() - set(mapped()))
    assert unmapped == [], f"modules missing from docs/ARCHITECTURE.md: {unmapped}"


def test_each_module_says_what_it_is_for_in_one_sentence() -> None:
    for module in sorted(package_modules()):
        doc = ast.get_docstring(ast.parse((REPO / module).read_text(encoding="utf-8")))
        assert doc and doc.strip(), f"{module} has no docstring"


def test_no_module_is_over_500_lines() -> None:
    long = {
        module: lines
        for module in package_modules()
        if (lines := len((REPO / module).read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these along their seams: {long}"
