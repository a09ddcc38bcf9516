"""The package's version, in a module of its own: modules inside the package import it from here
rather than from ``explorer`` itself, whose lazy Python API (``explorer.fit``, ...) sits above them."""

__version__ = "0.1.0"
