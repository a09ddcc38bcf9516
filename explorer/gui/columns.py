"""The feature-column picker of the data panel: which of a table's numeric columns are fitted.

A checkable list of the file's numeric columns (the ones fitted checked); a column that looks like
a label or a date (the loader's ``label_candidates`` and ``calendar_columns``) is marked so, since
fitting it as a feature is rarely meant. The window reads the file again with the chosen ``columns`` and remembers the choice
per file, as every load option.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)


class ColumnPicker(QDialog):
    """``columns``: every numeric column of the file; ``chosen``: the fitted ones;
    ``label_like``: the columns to mark as looking like labels."""

    def __init__(self, columns, chosen, label_like=(), parent=None):
        super().__init__(parent)
        self.setWindowTitle("Feature columns")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("The columns fitted as features (the ground-truth column never is):"))
        self.list = QListWidget()
        chosen, label_like = set(chosen), set(label_like)
        for c in columns:
            item = QListWidgetItem(c + ("   (looks like a label)" if c in label_like else ""))
            item.setData(Qt.ItemDataRole.UserRole, c)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if c in chosen else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        lay.addWidget(self.list, 1)
        row = QHBoxLayout()
        for text, state in (("All", Qt.CheckState.Checked), ("None", Qt.CheckState.Unchecked)):
            b = QPushButton(text)
            b.clicked.connect(lambda _c=False, s=state: self.set_all(s))
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.list.itemChanged.connect(self._update_ok)
        self._update_ok()

    def set_all(self, state) -> None:
        for i in range(self.list.count()):
            self.list.item(i).setCheckState(state)

    def set_checked(self, column: str, on: bool) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == column:
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def chosen(self) -> list[str]:
        return [
            self.list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.list.count())
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def _update_ok(self, *_args) -> None:
        # At least one feature: a table without features cannot be fitted.
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.chosen()))
