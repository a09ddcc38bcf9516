"""Help in the window: the quick start (explorer/gui/quickstart.md) and one page per model (the
repository's docs/models/<id>.md when it is there, else the model's own description and
hyperparameters, read from its declaration)."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

QUICK_START = Path(__file__).with_name("quickstart.md")
MODEL_DOCS = Path(__file__).resolve().parents[2] / "docs" / "models"


def models_html(models: dict) -> str:
    """Every model: name, id, data kinds, objective, description and hyperparameters."""
    parts = ["<h2>Models</h2>"]
    for model_id, cls in models.items():
        page = MODEL_DOCS / f"{model_id}.md"
        link = f" (<a href='{page.as_uri()}'>the model's page</a>)" if page.is_file() else ""
        parts.append(
            f"<h3>{html.escape(cls.name)} <code>{model_id}</code></h3>"
            f"<p><i>data:</i> {', '.join(cls.data_kinds)}; <i>objective:</i> "
            f"{cls.objective_kind}{link}</p><p>{html.escape(cls.description)}</p><ul>"
        )
        for s in cls.param_specs():
            parts.append(
                f"<li><b>{html.escape(s.label)}</b> = {html.escape(str(s.default))}"
                f": {html.escape(s.help)}</li>"
            )
        parts.append("</ul>")
    return "".join(parts)


def show_text(
    parent,
    title: str,
    *,
    markdown: str | None = None,
    html_text: str | None = None,
    modal: bool = True,
) -> QDialog:
    """A dialog with a text browser; links to local .md files open in it, rendered."""
    dlg = QDialog(parent)
    dlg.setWindowTitle(title)
    lay = QVBoxLayout(dlg)
    text = QTextBrowser()
    text.setOpenLinks(False)
    text.anchorClicked.connect(lambda url: _follow(text, url))
    if markdown is not None:
        text.setMarkdown(markdown)
    else:
        text.setHtml(html_text or "")
    lay.addWidget(text)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dlg.reject)
    lay.addWidget(buttons)
    dlg.resize(680, 600)
    dlg.text = text
    if modal:
        dlg.exec()
    else:
        dlg.show()
    return dlg


def _follow(text: QTextBrowser, url) -> None:
    path = Path(url.toLocalFile()) if url.isLocalFile() else None
    if path is not None and path.suffix == ".md" and path.is_file():
        text.setSearchPaths([str(path.parent)])
        text.setMarkdown(path.read_text(encoding="utf-8"))
    else:
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(url)


def quick_start_markdown() -> str:
    return QUICK_START.read_text(encoding="utf-8")
