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
        from explorer.cli import main as cli_main

        return cli_main(argv)
    except KeyboardInterrupt:  # during the imports (cli.main handles it afterwards)
        print("explorer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
