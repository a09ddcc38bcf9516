"""Ctrl-C on the command line, kept even where C code loses the ``KeyboardInterrupt``.

Python's own SIGINT handler raises ``KeyboardInterrupt`` wherever the main thread is. Code called
back from C can swallow it: when numba loads a cached kernel, llvmlite calls back into Python
from LLVM (``_raw_object_cache_notify``), and an exception raised in a ctypes callback is printed
and dropped. A Ctrl-C that landed there was lost and the "endless" fit ran to its end (exit 0).

:func:`install` puts a handler that remembers the Ctrl-C before raising; :func:`check` raises it
again at the command's safe points (after loading, in the progress callback, before exporting),
and :func:`seen` lets the command end with exit 130 even if every raise was swallowed. Only the
command line installs it: the window and the Python API keep Python's handler.

This module imports nothing heavy: ``explorer/__main__.py`` installs it before the imports.
"""

from __future__ import annotations

import signal
import threading

_seen: list[int] = []


def _handler(signum, frame) -> None:
    _seen.append(signum)
    raise KeyboardInterrupt


def install() -> None:
    """Take SIGINT for this process (main thread only; an ignored SIGINT stays ignored, as a
    command started with ``nohup`` or ``&`` in a script expects)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return
    signal.signal(signal.SIGINT, _handler)


def seen() -> bool:
    """Whether a Ctrl-C came since :func:`install`, raised or swallowed."""
    return bool(_seen)


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C came (its first raise may have been swallowed)."""
    if _seen:
        raise KeyboardInterrupt
