"""Citations of docs/design.md sections point at sections that exist.

Code and docs cite the design page as ``docs/design.md §N``; the page keeps
its section numbers (§1-§10 are those of the planning contract) so that the
citations stay valid. This test reads every tracked text file and checks each
cited number against the page's ``## N.`` headings.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "design.md"
SOURCES = ("engine", "bridge", "verify", "ocaml", "tests", "bench", "strategies", "docs")
CITATION = re.compile(r"design\.md(?: |, )?§(\d+)((?:(?:, |–|-)§?\d+)*)")


def _sections() -> set[int]:
    return {int(m) for m in re.findall(r"^## (\d+)\. ", DESIGN.read_text("utf-8"), re.M)}


def _files() -> list[Path]:
    found = [ROOT / "README.md"]
    for top in SOURCES:
        found += [p for p in (ROOT / top).rglob("*")
                  if p.suffix in {".py", ".ml", ".mli", ".md", ".lua"} and p.is_file()]
    return found


def test_the_design_page_keeps_the_planned_section_numbers() -> None:
    assert set(range(1, 11)) <= _sections()


def test_every_cited_section_exists() -> None:
    sections = _sections()
    missing = []
    for path in _files():
        for m in CITATION.finditer(path.read_text("utf-8", errors="replace")):
            numbers = [int(m.group(1)), *map(int, re.findall(r"\d+", m.group(2)))]
            missing += [f"{path.relative_to(ROOT)}: §{n}" for n in numbers if n not in sections]
    assert missing == []


def test_the_pattern_sees_a_citation() -> None:
    # guards the test above against a regex that never matches
    m = CITATION.search("see docs/design.md §4, §5 and more")
    assert m is not None and (m.group(1), m.group(2)) == ("4", ", §5")
