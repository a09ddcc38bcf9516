"""``explorer gui [DATA] [--model ID] [--K 3 ...] [--run] [--screenshot PNG] [--plots DIR]``.

Opens the window with DATA loaded and the model chosen. With ``--run`` the fit starts at once;
with ``--screenshot``/``--plots`` the window (and each plot) is saved as PNG when the fit finishes
(or right away without ``--run``) and the program exits with status 0, so figures can be made in
batch. Bad input (a file the loader refuses, an unknown model, a value out of range) exits with
status 2 and one line on stderr.

Scripted runs (``--screenshot``/``--plots``) use fresh in-memory settings so that what they
draw does not depend on the last interactive session; ``--settings FILE`` picks an INI file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from explorer import options
from explorer.gui.settings import FILE_OPTIONS
from explorer.options import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT / "sample_data" / "old_faithful.csv"
DEFAULT_MODELS = ("gmm", "kmeans")


def install_excepthook(window) -> None:
    """Every exception that reaches the event loop is shown by the window (its log and a message
    with the details) and still printed on stderr; the window stays usable."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        try:
            window.report_exception(exc_type, exc, tb)
        finally:
            previous(exc_type, exc, tb)

    sys.excepthook = hook


def _error(message: str) -> int:
    print(f"explorer: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _pick_fallback(models: dict, kind: str | None, wanted: tuple[str, ...]) -> type | None:
    for model_id in wanted:
        cls = models.get(model_id)
        if cls is not None and (kind is None or kind in cls.data_kinds):
            return cls
    for cls in models.values():
        if kind is None or kind in cls.data_kinds:
            return cls
    return None


def build_parser(model_cls) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="explorer gui", allow_abbrev=False, description="Open the explorer window."
    )
    p.add_argument("data", nargs="?", help="data file to open (default: a bundled sample)")
    p.add_argument("--model", default=None, help="model id (see `explorer models`)")
    p.add_argument("--run", action="store_true", help="start the fit at once")
    p.add_argument(
        "--screenshot",
        default=None,
        metavar="PNG",
        help="save a PNG of the window when the fit finishes, then exit",
    )
    p.add_argument(
        "--plots",
        default=None,
        metavar="DIR",
        help="save one PNG per plot into DIR when the fit finishes, then exit",
    )
    p.add_argument(
        "--settings",
        default=None,
        metavar="INI",
        help="keep settings in this INI file instead of the user's",
    )
    p.add_argument("--size", default="1400x900", help="window size WxH (default 1400x900)")
    options.add_run_options(p)
    options.add_data_options(p)
    if model_cls is not None:
        options.add_hyperparameter_options(p, model_cls)
    return p


class _StartError(Exception):
    """What stops the window before it opens: printed as one line, exit 2."""


def _choose_model(models: dict, wanted: str | None, scripted: bool):
    """(the model class named by --model or None, a warning line or None)."""
    if not wanted:
        return None, None
    model_cls = models.get(wanted)
    if model_cls is not None:
        return model_cls, None
    if scripted:
        raise _StartError(f"unknown model '{wanted}'; known models: {', '.join(models)}")
    return None, f"model '{wanted}' is not available; using another"


def _load_start(args, models: dict, model_cls, wanted: str | None, scripted: bool):
    """(path, data, model class, hyperparameter values given on the command line): the data file
    named (or the default one) loaded, and a model for it when none was named."""
    from explorer.data.types import DataError
    from explorer.models.base import HyperparameterError

    path = args.data or (str(DEFAULT_DATA) if DEFAULT_DATA.exists() else None)
    data = None
    hp_values = {}
    try:
        if model_cls is not None:
            hp = options.hyperparameters_from_args(model_cls, args)
            hp_values = {
                s.name: getattr(hp, s.name)
                for s in model_cls.param_specs()
                if getattr(args, s.name, None) is not None
            }
        if path is not None:
            kind = options.data_kind_for(model_cls, path, args)
            if not Path(path).exists():
                raise DataError("no such file", path=path)
            data = options.load_from_args(path, args, kind)
            if model_cls is None:
                model_cls = _pick_fallback(models, data.kind, () if wanted else DEFAULT_MODELS)
                if model_cls is None and scripted:
                    raise DataError(f"no model takes {data.kind} data", path=path)
            if model_cls is not None and scripted:
                model_cls(model_cls.Hyperparameters.from_mapping(hp_values)).check_data(data)
    except (DataError, HyperparameterError) as e:
        raise _StartError(getattr(e, "message", None) or str(e)) from None
    if args.run and data is None:
        raise _StartError("--run needs a data file")
    return path, data, model_cls, hp_values


def _settings(args, scripted: bool):
    """(QSettings, a temporary folder to remove at exit or None): --settings FILE, a throwaway
    file for scripted screenshots (a user's saved layout must not change them), else the user's."""
    from PySide6.QtCore import QSettings

    from explorer.gui.main_window import APPLICATION, ORGANIZATION

    if args.settings:
        return QSettings(args.settings, QSettings.Format.IniFormat), None
    if scripted and (args.screenshot or args.plots):
        tmp = tempfile.TemporaryDirectory(prefix="explorer-settings-")
        return QSettings(str(Path(tmp.name) / "settings.ini"), QSettings.Format.IniFormat), tmp
    return QSettings(ORGANIZATION, APPLICATION), None


def _show(window, args, path, data, model_cls, hp_values) -> None:
    """Fill the window from the command line: its size, data, model, values and run settings."""
    if args.screenshot or args.plots:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise _StartError(f"--size: expected WxH, got {args.size!r}") from None
        window.resize(w, h)
    if data is not None:
        window.set_data(
            data,
            path=path,
            options={
                k: getattr(args, k) for k in FILE_OPTIONS if getattr(args, k, None) is not None
            },
        )
    if model_cls is not None:
        window.select_model(model_cls.id)
        window.model_panel.form.set_values(hp_values)
    window.model_panel.set_run_settings(
        {"seed": args.seed, "max_iter": args.max_iter, "tol": args.tol}
    )
    window.show()


def _script(app, window, args, status: dict) -> None:
    """--run, --screenshot, --plots: start the run and, when asked for pictures, save them once
    it has finished and quit (exit 1 when the run fails or the pictures cannot be written)."""
    from PySide6.QtCore import QTimer

    def finish() -> None:
        try:
            window.save_screenshots(args.screenshot, args.plots)
        except OSError as e:
            print(f"explorer: error: {e}", file=sys.stderr)
            status["code"] = 1
        if args.screenshot:
            print(f"wrote {args.screenshot}", file=sys.stderr)
        window.close()
        app.exit(status["code"])

    def failed(message: str) -> None:
        status["code"] = 1
        window.close()
        app.exit(1)

    exit_when_done = bool(args.screenshot or args.plots)
    if args.run:
        if exit_when_done:
            # let the last heavy redraw and layout settle before grabbing
            window.run_finished.connect(lambda _r: QTimer.singleShot(200, finish))
            window.run_failed.connect(failed)
        QTimer.singleShot(0, lambda: window.start_run() or (exit_when_done and failed("")))
    elif exit_when_done:
        QTimer.singleShot(300, finish)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from explorer.models import registry

    models = registry()
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("data", nargs="?")
    pre.add_argument("--model", default=None)
    pre.add_argument("--run", action="store_true")
    pre.add_argument("--screenshot", default=None)
    pre.add_argument("--plots", default=None)
    known, _ = pre.parse_known_args(argv)
    scripted = bool(known.run or known.screenshot or known.plots)
    try:
        model_cls, warning = _choose_model(models, known.model, scripted)
        args = build_parser(model_cls).parse_args(argv)
        path, data, model_cls, hp_values = _load_start(
            args, models, model_cls, known.model, scripted
        )
    except _StartError as e:
        return _error(str(e))
    if warning:
        print(f"explorer: warning: {warning}", file=sys.stderr)

    from PySide6.QtWidgets import QApplication

    from explorer.gui.main_window import APPLICATION, ORGANIZATION, MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    settings, tmp = _settings(args, scripted)
    exit_when_done = bool(args.screenshot or args.plots)
    window = MainWindow(settings, interactive=not exit_when_done, models=models)
    try:
        _show(window, args, path, data, model_cls, hp_values)
    except _StartError as e:
        return _error(str(e))
    install_excepthook(window)
    status = {"code": 0}
    _script(app, window, args, status)
    code = app.exec()
    if tmp is not None:
        tmp.cleanup()
    return status["code"] if exit_when_done else code


if __name__ == "__main__":
    sys.exit(main())
