"""The docs are tested: every Python block and ``$ explorer`` command of README.md and docs/ runs,
every relative link resolves, and the walkthrough's code is the example package's code.

* A ```python block runs as a script; a ```console (or ```sh) block runs each line that starts
  with ``$ explorer`` as a command (``python -m explorer.cli``). The blocks of one page run in
  order in one temporary folder holding links to ``sample_data/`` and ``examples/``, so a page may
  write ``out/`` and read it back in its next block, and nothing is written into the checkout.
* A block that cannot run is preceded by ``<!-- not-run: REASON -->`` (the reason is required). A
  runnable console block holds only ``$ explorer`` commands and their output.
* A block preceded by ``<!-- example: PATH -->`` is a piece of the file PATH: the pieces of one
  file, in order, are that file's text (runs of blank lines aside).
* Links ``[text](target)`` that are not URLs must name an existing file or folder; an anchor
  (``page.md#a-heading``) must name a heading of the page.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 200

FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*(not-run|example):(.*?)-->\s*\Z", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
COMMAND_LANGS = {"console", "sh", "shell", "bash"}


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    code: str
    not_run: str | None = None  # the reason, when marked not-run
    example: str | None = None  # the file it is a piece of

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip()
        block = Block(page, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        marker = MARKER.search(before[-400:])
        if marker:
            kind, value = marker.group(1), marker.group(2).strip()
            if kind == "not-run":
                block.not_run = value
            else:
                block.example = value
        out.append(block)
    return out


def runnable(block: Block) -> bool:
    if block.not_run is not None or block.example is not None:
        return False
    if block.lang == "python":
        return True
    return block.lang in COMMAND_LANGS and any(
        line.startswith("$ ") for line in block.code.splitlines()
    )


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    s = re.sub(r"[`*_]", "", heading.strip().lower())
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, re.M)}


def test_the_pages_are_found():
    names = {str(p.relative_to(ROOT)) for p in PAGES}
    for page in (
        "README.md",
        "docs/README.md",
        "docs/architecture.md",
        "docs/adding-a-model.md",
        "docs/formats.md",
        "docs/performance.md",
        "docs/troubleshooting.md",
        "docs/models/gmm.md",
        "docs/guides/window.md",
    ):
        assert page in names


def test_the_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    assert any(line.startswith("make run ") for line in lines)
    assert any(line.startswith("make test ") for line in lines)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_not_run_block_says_why(page):
    # (a marker quoted in a code span, as on the page that explains them, is not a marker)
    original = page.read_text(encoding="utf-8")
    text = re.sub(r"`[^`\n]+`", lambda m: " " * len(m.group(0)), original)
    for m in re.finditer(r"<!--\s*not-run:(.*?)-->", text, re.S):
        line = text.count("\n", 0, m.start()) + 1
        assert m.group(1).strip(), f"{page.relative_to(ROOT)}:{line}: not-run without a reason"
        after = original[m.end() :].lstrip("\n")
        assert after.startswith("```"), (
            f"{page.relative_to(ROOT)}:{line}: a not-run marker must come right before its block"
        )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        if not path.exists():
            broken.append(f"{target} (no {rel})")
            continue
        if anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target} (no heading #{anchor} in {rel})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: " + "; ".join(broken)


def _normalised(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text.strip("\n")) + "\n"


def test_the_walkthrough_is_the_example_code():
    pieces: dict[str, list[str]] = {}
    for page in PAGES:
        for block in blocks(page):
            if block.example:
                pieces.setdefault(block.example, []).append(block.code)
    assert "examples/poisson-mixture/poisson_mixture/model.py" in pieces
    assert "examples/poisson-mixture/pyproject.toml" in pieces
    for path, codes in pieces.items():
        shown = _normalised("\n\n".join(codes))
        actual = _normalised((ROOT / path).read_text(encoding="utf-8"))
        assert shown == actual, (
            f"the blocks marked 'example: {path}' differ from the file (edit both)"
        )


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def _run_block(block: Block, cwd: Path, index: int) -> None:
    if block.lang == "python":
        script = cwd / f"_doc_block_{index}.py"
        script.write_text(block.code, encoding="utf-8")
        runs = [[sys.executable, str(script)]]
    else:
        runs = []
        for line in block.code.splitlines():
            if not line.startswith("$ "):
                continue  # output shown in the block
            args = shlex.split(line[2:])
            assert args[0] == "explorer", (
                f"{block.where}: only `$ explorer` commands run here; "
                f"mark the block <!-- not-run: REASON --> ({line})"
            )
            runs.append([sys.executable, "-m", "explorer.cli", *args[1:]])
    for argv in runs:
        proc = subprocess.run(
            argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, (
            f"{block.where}: {' '.join(argv[1:])} exited {proc.returncode}\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )


RUNNABLE_PAGES = [p for p in PAGES if any(runnable(b) for b in blocks(p))]


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_block_of_the_page_runs(page, tmp_path):
    for name in ("sample_data", "examples"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    for i, block in enumerate(b for b in blocks(page) if runnable(b)):
        _run_block(block, tmp_path, i)
