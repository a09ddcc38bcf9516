"""Small widgets: a spin box that speaks scientific notation, and the hyperparameter form
generated from a model's ``param_specs()``."""

from __future__ import annotations

import math
import re

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.models.base import HyperparameterError, ParamSpec

INT_MAX = 2**31 - 1
_PARTIAL_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d*)?([eE][+-]?\d*)?$")


class ScientificSpinBox(QDoubleSpinBox):
    """A QDoubleSpinBox showing values like ``1e-06``; the arrows multiply or divide by 10."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(323)  # no rounding of small values (Qt's maximum)
        self.setRange(-1e300, 1e300)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt override)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        t = text.strip()
        try:
            v = float(t)
        except ValueError:
            state = (
                QValidator.State.Intermediate
                if _PARTIAL_FLOAT.match(t)
                else QValidator.State.Invalid
            )
            return state, text, pos
        if not math.isfinite(v) or v < self.minimum() or v > self.maximum():
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Acceptable, text, pos

    def fixup(self, text: str) -> str:
        return self.textFromValue(self.value())

    def stepBy(self, steps: int) -> None:  # noqa: N802
        v = self.value()
        if v == 0:
            v = self.minimum() if self.minimum() > 0 else 1e-6
        self.setValue(min(max(v * 10.0**steps, self.minimum()), self.maximum()))

    def stepEnabled(self):  # noqa: N802
        return (
            QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
            | QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        )


class WheelGuard(QObject):
    """Spin boxes and combo boxes take the mouse wheel only when they have the keyboard focus
    (as in Qt Creator's settings): wheeling over an unfocused one scrolls the panel instead of
    changing a hyperparameter."""

    def eventFilter(self, obj, event):  # noqa: N802  (Qt override)
        if event.type() == QEvent.Type.Wheel and not obj.hasFocus():
            event.ignore()  # ignored: Qt passes the wheel on to the scroll area
            return True
        return False


_WHEEL_GUARD = None


def guard_wheel(*widgets: QWidget) -> None:
    """Install the wheel guard on spin boxes and combo boxes (click or Tab to focus them)."""
    global _WHEEL_GUARD
    if _WHEEL_GUARD is None:
        _WHEEL_GUARD = WheelGuard()
    for w in widgets:
        if isinstance(w, (QAbstractSpinBox, QComboBox)):
            w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            w.installEventFilter(_WHEEL_GUARD)


def _range_text(spec: ParamSpec) -> str:
    if spec.choices:
        return "one of " + ", ".join(map(str, spec.choices))
    if spec.lo is None and spec.hi is None:
        return ""
    lo = "-inf" if spec.lo is None else f"{spec.lo:g}"
    hi = "inf" if spec.hi is None else f"{spec.hi:g}"
    return f"range [{lo}, {hi}]"


def make_editor(spec: ParamSpec) -> QWidget:
    """The editor widget for one hyperparameter, set to its default."""
    tip = spec.help
    rng = _range_text(spec)
    if rng:
        tip += f" ({rng}; default {spec.default})"
    if spec.choices:
        w = QComboBox()
        for c in spec.choices:
            w.addItem(str(c), c)
        w.setCurrentIndex(
            list(spec.choices).index(spec.default) if spec.default in spec.choices else 0
        )
    elif spec.type is bool:
        w = QCheckBox()
        w.setChecked(bool(spec.default))
    elif spec.type is int:
        w = QSpinBox()
        lo = -INT_MAX if spec.lo is None else max(int(math.ceil(spec.lo)), -INT_MAX)
        hi = INT_MAX if spec.hi is None else min(int(math.floor(spec.hi)), INT_MAX)
        w.setRange(lo, hi)
        w.setValue(int(spec.default))
        w.setKeyboardTracking(False)
    elif spec.type is float:
        small = spec.default != 0 and abs(spec.default) < 1e-3
        if spec.log or small:
            w = ScientificSpinBox()
        else:
            w = QDoubleSpinBox()
            w.setDecimals(6)
            w.setKeyboardTracking(False)
            span = None
            if spec.lo is not None and spec.hi is not None:
                span = spec.hi - spec.lo
            w.setSingleStep(0.1 if span is None or span > 1 else span / 20)
        w.setRange(
            -1e300 if spec.lo is None else float(spec.lo),
            1e300 if spec.hi is None else float(spec.hi),
        )
        w.setValue(float(spec.default))
    else:
        w = QLineEdit(str(spec.default))
    w.setToolTip(tip)
    w.setObjectName(f"hp_{spec.name}")
    guard_wheel(w)
    return w


def editor_value(w: QWidget):
    if isinstance(w, QComboBox):
        return w.currentData()
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, (QSpinBox, QDoubleSpinBox)):
        return w.value()
    return w.text()


def set_editor_value(w: QWidget, value) -> None:
    if isinstance(w, QComboBox):
        i = w.findData(value)
        if i < 0:
            i = w.findText(str(value))
        if i >= 0:
            w.setCurrentIndex(i)
    elif isinstance(w, QCheckBox):
        w.setChecked(bool(value))
    elif isinstance(w, QSpinBox):
        w.setValue(int(value))
    elif isinstance(w, QDoubleSpinBox):
        w.setValue(float(value))
    else:
        w.setText(str(value))


def editor_signal(w: QWidget):
    if isinstance(w, QComboBox):
        return w.currentIndexChanged
    if isinstance(w, QCheckBox):
        return w.toggled
    if isinstance(w, (QSpinBox, QDoubleSpinBox)):
        return w.valueChanged
    return w.editingFinished


class ParamForm(QWidget):
    """The hyperparameter form of one model class, generated from its ``param_specs()``; the
    hyperparameters declared ``advanced`` sit in a collapsed "Advanced" section below."""

    changed = Signal()

    def __init__(self, model_cls=None, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        basic = QWidget()
        self.layout_ = QFormLayout(basic)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(basic)
        self.advanced_button = QToolButton()
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self._toggle_advanced)
        outer.addWidget(self.advanced_button)
        self.advanced = QWidget()
        self.advanced_layout = QFormLayout(self.advanced)
        self.advanced_layout.setContentsMargins(12, 0, 0, 0)
        self.advanced.setVisible(False)
        outer.addWidget(self.advanced)
        self.model_cls = None
        self.editors: dict[str, QWidget] = {}
        self.specs: dict[str, ParamSpec] = {}
        self.set_model(model_cls)

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def set_model(self, model_cls) -> None:
        for lay in (self.layout_, self.advanced_layout):
            while lay.rowCount():
                lay.removeRow(0)
        self.editors.clear()
        self.specs.clear()
        self.model_cls = model_cls
        self.advanced_button.setVisible(False)
        self.advanced_button.setChecked(False)
        if model_cls is None:
            return
        specs = model_cls.param_specs()
        if not specs:
            self.layout_.addRow(QLabel("(no hyperparameters)"))
        n_advanced = 0
        for spec in specs:
            w = make_editor(spec)
            label = QLabel(spec.label)
            label.setToolTip(w.toolTip())
            (self.advanced_layout if spec.advanced else self.layout_).addRow(label, w)
            n_advanced += spec.advanced
            self.editors[spec.name] = w
            self.specs[spec.name] = spec
            editor_signal(w).connect(self.changed)
        self.advanced_button.setText(f"Advanced ({n_advanced})")
        self.advanced_button.setVisible(n_advanced > 0)

    def values(self) -> dict:
        return {name: editor_value(w) for name, w in self.editors.items()}

    def set_values(self, values: dict) -> list[str]:
        """Set the editors that exist; returns the names that were ignored (unknown or bad)."""
        ignored = []
        for name, value in values.items():
            w = self.editors.get(name)
            if w is None:
                ignored.append(name)
                continue
            try:
                spec = self.specs[name]
                v = spec.coerce(value)
                spec.check(v)
                set_editor_value(w, v)
            except (HyperparameterError, TypeError, ValueError):
                ignored.append(name)
        return ignored

    def hyperparameters(self):
        """The model's validated Hyperparameters; raises HyperparameterError."""
        if self.model_cls is None:
            raise HyperparameterError("no model chosen")
        return self.model_cls.Hyperparameters.from_mapping(self.values())
