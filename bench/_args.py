"""The bench scripts' command lines (imported as ``from _args import options``: a script run as
``python bench/x.py`` has bench/ on its path)."""

from __future__ import annotations

import argparse


def options(doc: str | None, **defaults) -> argparse.ArgumentParser:
    """A parser with one ``--name`` option per keyword (``k_aff`` becomes ``--k-aff``), typed by
    its default (an int, float or str; None: a string that may be left out), described by the
    first line of ``doc``. Flags and hidden options are added by the caller."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    for name, default in defaults.items():
        kind = str if default is None else type(default)
        ap.add_argument("--" + name.replace("_", "-"), type=kind, default=default)
    return ap


def flags(ap: argparse.ArgumentParser, **helps: str) -> argparse.ArgumentParser:
    """Adds one on/off ``--name`` flag per keyword (``keep_cache`` becomes ``--keep-cache``),
    described by its value; returns ``ap``."""
    for name, text in helps.items():
        ap.add_argument("--" + name.replace("_", "-"), action="store_true", help=text)
    return ap
