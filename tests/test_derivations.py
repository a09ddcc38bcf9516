"""The derivation pages the code cites exist: every ``docs/derivations/...`` path written in
explorer/ names a file in the repository, every model that has a page cites it, and no citation
points to the original handwritten notes (``note 001``), which the repository does not ship."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DERIVATIONS = ROOT / "docs" / "derivations"
CITATION = re.compile(r"docs/derivations/[\w./-]*\w")


def cited_paths() -> dict[str, list[str]]:
    """Each cited path -> the source files (relative to the root) that cite it."""
    cited: dict[str, list[str]] = {}
    for source in sorted((ROOT / "explorer").rglob("*.py")):
        for path in CITATION.findall(source.read_text(encoding="utf-8")):
            cited.setdefault(path, []).append(str(source.relative_to(ROOT)))
    return cited


def test_every_cited_derivation_page_exists():
    cited = cited_paths()
    assert len(cited) >= 8, f"expected a page per derived model, found citations of {sorted(cited)}"
    missing = {path: files for path, files in cited.items() if not (ROOT / path).is_file()}
    assert not missing, f"cited but not in the repository: {missing}"


def test_every_derivation_page_is_cited_by_its_model_and_listed_in_the_index():
    cited = cited_paths()
    index = (DERIVATIONS / "README.md").read_text(encoding="utf-8")
    for page in sorted(DERIVATIONS.glob("*.md")):
        if page.name == "README.md":
            continue
        path = f"docs/derivations/{page.name}"
        module = f"explorer/models/{page.stem}.py"
        assert module in cited.get(path, []), f"{module} does not cite {path}"
        assert f"]({page.name})" in index, f"{page.name} is missing from the index"


def test_no_citation_of_the_unshipped_handwritten_notes():
    stale = re.compile(r"derivation notes? \d{3}|\bnote \d{3}\b", re.IGNORECASE)
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in sorted((ROOT / "explorer").rglob("*.py"))
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if stale.search(line)
    ]
    assert not hits, "cite docs/derivations/<page>.md instead:\n" + "\n".join(hits)
