"""What the window remembers between sessions (QSettings), by meaning: every key in one place.

* per data file (by its resolved path's digest): the data options it was last opened with;
* the recent files (at most ``MAX_RECENT``);
* per kind of data: the last model; per kind and model: the hyperparameters and run settings;
* where fits run ("Run on"), the last export folder, the window's geometry and dock layout.

Values are JSON strings where they are mappings, so INI files and the registry read the same.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MAX_RECENT = 8
FILE_OPTIONS = (
    "kind",
    "columns",
    "standardize",
    "missing",
    "labels",
    "directed",
    "bin_width",
    "test_pairs",
)  # the data options (`explorer gui`'s and the Data panel's), remembered per file


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]


class WindowSettings:
    """The window's QSettings (``self.q``) read and written by meaning."""

    def __init__(self, qsettings):
        self.q = qsettings

    def _json(self, key: str) -> dict:
        saved = self.q.value(key)
        try:
            value = json.loads(saved) if saved else {}
        except (TypeError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    # ---- data files -------------------------------------------------------------------------
    @staticmethod
    def file_key(path) -> str:
        return f"file_options/{WindowSettings._digest(path)}"

    def file_options(self, path) -> dict:
        """The data options last used with this file, or {}."""
        return {
            k: v
            for k, v in self._json(self.file_key(path)).items()
            if k in FILE_OPTIONS and v is not None
        }

    def remember_file_options(self, path, options: dict) -> None:
        self.q.setValue(
            self.file_key(path), json.dumps({k: v for k, v in options.items() if k in FILE_OPTIONS})
        )

    def file_columns(self, path) -> list[str]:
        """Every numeric column of the file, as last read without a choice of columns."""
        return _as_list(self.q.value(f"file_columns/{self._digest(path)}"))

    def set_file_columns(self, path, columns) -> None:
        self.q.setValue(f"file_columns/{self._digest(path)}", list(columns))

    def recent_files(self) -> list[str]:
        return _as_list(self.q.value("recent_files"))

    def add_recent(self, path) -> list[str]:
        path = str(Path(path).resolve())
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        self.q.setValue("recent_files", recent[:MAX_RECENT])
        return recent[:MAX_RECENT]

    # ---- models -----------------------------------------------------------------------------
    def last_model(self, kind: str) -> str | None:
        value = self.q.value(f"kind/{kind}/model")
        return str(value) if value else None

    # Values are remembered per file and model: a reg_covar of 0.5 chosen for one table is not
    # pre-filled on another (the window says when values come from an earlier use of the file).
    def model_values(self, path, model_id: str) -> dict:
        """The hyperparameters last used with this model on this file."""
        return self._json(f"hp/{self._digest(path)}/{model_id}")

    def run_values(self, path, model_id: str) -> dict:
        """Seed, maximum iterations and tolerance last used with this model on this file."""
        return self._json(f"run/{self._digest(path)}/{model_id}")

    def save_model(self, kind: str, path, model_id: str, hyperparameters: dict, run: dict) -> None:
        self.q.setValue(f"kind/{kind}/model", model_id)
        self.q.setValue(f"hp/{self._digest(path)}/{model_id}", json.dumps(hyperparameters))
        self.q.setValue(f"run/{self._digest(path)}/{model_id}", json.dumps(run))

    @staticmethod
    def _digest(path) -> str:
        return hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]

    def run_on(self) -> dict:
        return self._json("run_on")

    def set_run_on(self, target: dict) -> None:
        self.q.setValue("run_on", json.dumps(target))

    # ---- folders and the window -------------------------------------------------------------
    def export_dir(self) -> str | None:
        last = self.q.value("export/last_dir")
        return str(last) if last and Path(str(last)).is_dir() else None

    def set_export_dir(self, written) -> None:
        """Remember the folder holding ``written`` (an exported folder or file)."""
        self.q.setValue("export/last_dir", str(Path(written).resolve().parent))

    def restore_window(self, window) -> bool:
        """Geometry and dock layout; False when none was saved (the caller sizes the window)."""
        geometry = self.q.value("window/geometry")
        if geometry is not None:
            window.restoreGeometry(geometry)
        state = self.q.value("window/state")
        if state is not None:
            window.restoreState(state)
        return geometry is not None

    def save_window(self, window) -> None:
        self.q.setValue("window/geometry", window.saveGeometry())
        self.q.setValue("window/state", window.saveState())
        self.q.sync()
