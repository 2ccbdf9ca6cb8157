"""The product contract lives in the repo: code cites docs/, and every citation resolves.

A docstring or comment in reconciler/ that explains a rule cites the page and section that
state it, as `docs/reference/semantics.md "Adoption by name"` (or, where a line is short of
room, `semantics.md "Adoption by name"`: a bare name is looked up in docs/reference/, then
docs/). These tests fail when code cites the out-of-repo SPEC.md or api/README.md, names a
docs page that does not exist, or quotes a section heading that the page does not have; and
when a relative link in docs/reference/ points at a missing file or heading.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SOURCES = sorted((ROOT / "reconciler").rglob("*.py"))

#: `SPEC` is also the metavar of `sandbox --faults` (a fault spec string): those lines are
#: not citations of the product spec.
_SPEC = re.compile(r"\bSPEC\b|api/README")
_FAULT_SPEC = re.compile(r"faults|metavar|fault_spec")
#: A docs page, optionally followed by a quoted section heading (possibly on the next line).
_CITATION = re.compile(r'((?:docs/)?(?:reference/)?[A-Za-z][\w-]*\.md)(?:\s+"([^"\n]+)")?')
_LINK = re.compile(r"\]\(([^)#\s]+\.md)?(?:#([^)\s]+))?\)")


def _resolve(name: str) -> Path | None:
    """The docs file a citation names, or None when there is none."""
    candidates = (
        [ROOT / name] if name.startswith("docs/") else [DOCS / "reference" / name, DOCS / name]
    )
    return next((c for c in candidates if c.is_file()), None)


def _headings(page: Path) -> set[str]:
    """The text of every Markdown heading of page (code fences skipped)."""
    found: set[str] = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6}\s+(.+?)\s*$", line)):
            found.add(match.group(1))
    return found


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.lower())
    return text.replace(" ", "-")


def _citations(text: str) -> list[tuple[int, str, str | None]]:
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        for m in _CITATION.finditer(text)
    ]


def check_source(text: str) -> list[str]:
    """Every problem with the citations of one source text (empty: all good)."""
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if _SPEC.search(line) and not _FAULT_SPEC.search(line):
            problems.append(f"{number}: cites the out-of-repo spec: {line.strip()}")
    for number, name, heading in _citations(text):
        page = _resolve(name)
        if page is None:
            problems.append(f"{number}: no docs page {name}")
        elif heading is not None and heading not in _headings(page):
            problems.append(f"{number}: {name} has no section {heading!r}")
    return problems


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_cites_only_docs_pages_and_sections_that_exist(source: Path) -> None:
    assert check_source(source.read_text(encoding="utf-8")) == []


def test_the_reference_pages_exist() -> None:
    for name in ("yaml", "commands", "semantics", "vendors"):
        assert (DOCS / "reference" / f"{name}.md").is_file(), name


def test_links_in_the_reference_resolve() -> None:
    problems: list[str] = []
    for page in sorted((DOCS / "reference").glob("*.md")):
        for match in _LINK.finditer(page.read_text(encoding="utf-8")):
            target_name, anchor = match.groups()
            target = (page.parent / target_name).resolve() if target_name else page
            if not target.is_file():
                problems.append(f"{page.name}: missing {target_name}")
            elif anchor and anchor not in {_slug(h) for h in _headings(target)}:
                problems.append(f"{page.name}: {target_name or page.name} has no #{anchor}")
    assert problems == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"""Retries (SPEC "Apply semantics")."""', "out-of-repo spec"),
        ("# the field table (api/README.md section 1)", "out-of-repo spec"),
        ('"""See docs/reference/nowhere.md."""', "no docs page"),
        ('"""See docs/reference/semantics.md "No such section"."""', "has no section"),
        ('"""See semantics.md "No such section"."""', "has no section"),
    ],
)
def test_the_checker_catches_each_kind_of_bad_citation(text: str, expected: str) -> None:
    problems = check_source(text)
    assert problems and expected in problems[0], problems


def test_the_checker_accepts_good_citations_and_fault_specs() -> None:
    text = (
        '"""Adopted (docs/reference/semantics.md "Adoption by name"); also vendors.md\n'
        '"Email quirks" and docs/apply.md."""\n'
        'metavar="SPEC"  # the --faults SPEC string\n'
    )
    assert check_source(text) == []
