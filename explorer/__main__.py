"""The console entry point ``explorer`` (``[project.scripts]`` in pyproject.toml) and
``python -m explorer``.

This module imports nothing heavy before it can catch Ctrl-C: importing the CLI (numpy, numba,
pandas, the models) takes about a second, and a Ctrl-C then must end like any other, with exit 130
and one line, not a ``KeyboardInterrupt`` traceback. (``python -m explorer.cli`` imports all that
before any of its code runs.)
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # explorer.options.EXIT_INTERRUPTED, not imported: it is not light


def main(argv: list[str] | None = None) -> int:
    try:
        from explorer import ctrl_c

        ctrl_c.install()
        from explorer.cli import main as cli_main

        code = cli_main(argv)
    except BaseException as e:  # noqa: BLE001 - re-raised unless it is the Ctrl-C
        # A Ctrl-C during the imports (cli.main handles it afterwards) can surface as another
        # exception: Python 3.11 wraps one raised inside a descriptor's __set_name__ (as in
        # pandas' dataclasses) in a RuntimeError.
        ctrl_c = sys.modules.get("explorer.ctrl_c")
        if not (isinstance(e, KeyboardInterrupt) or (ctrl_c is not None and ctrl_c.seen())):
            raise
        print("explorer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if ctrl_c.seen() and code != EXIT_INTERRUPTED:  # every raise of it was swallowed
        print("explorer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
