"""The explorer window (PySide6 + pyqtgraph). Qt lives only in this package.

Entry point: :func:`explorer.gui.app.main` (``explorer gui ...`` and ``explorer FILE``).
"""
