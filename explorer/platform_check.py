"""Before the window opens: can Qt's platform plugin load here? (Qt-free; used by ``explorer gui``.)

On a fresh Linux machine PySide6's xcb plugin often misses a few system libraries, and Qt then
prints a misleading message (it names ``libxcb-cursor0`` whatever is missing) and aborts. This
module finds the plugin without importing Qt, runs ``ldd`` on it, maps every library reported as
"not found" to the package that provides it (Debian/Ubuntu and Fedora names) and prints the exact
install command. With no display at all it says so in one line. When the libraries are all there,
a short probe in a subprocess (a bare ``QGuiApplication``) catches what ``ldd`` cannot see, such as
a display that does not answer, and reports Qt's own first line.

``EXPLORER_NO_PREFLIGHT=1`` skips the check.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Platforms that need no windowing system (Qt's names, as in QT_QPA_PLATFORM).
HEADLESS_PLATFORMS = {
    "offscreen",
    "minimal",
    "minimalegl",
    "vnc",
    "linuxfb",
    "eglfs",
    "vkkhrdisplay",
}

# Debian/Ubuntu packages whose name does not follow the soname rule (see debian_package).
DEBIAN_EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libz.so.1": "zlib1g",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
}

# Fedora packages by soname; anything else is asked for by what it provides ('soname()(64bit)').
FEDORA_PACKAGES = {
    "libxcb-icccm.so.4": "xcb-util-wm",
    "libxcb-ewmh.so.2": "xcb-util-wm",
    "libxcb-keysyms.so.1": "xcb-util-keysyms",
    "libxcb-cursor.so.0": "xcb-util-cursor",
    "libxcb-image.so.0": "xcb-util-image",
    "libxcb-render-util.so.0": "xcb-util-renderutil",
    "libxcb-util.so.1": "xcb-util",
    "libX11-xcb.so.1": "libX11-xcb",
    "libX11.so.6": "libX11",
    "libxkbcommon.so.0": "libxkbcommon",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11",
    "libGL.so.1": "libglvnd-glx",
    "libGLX.so.0": "libglvnd-glx",
    "libOpenGL.so.0": "libglvnd-opengl",
    "libEGL.so.1": "libglvnd-egl",
    "libfontconfig.so.1": "fontconfig",
    "libfreetype.so.6": "freetype",
    "libglib-2.0.so.0": "glib2",
    "libgthread-2.0.so.0": "glib2",
    "libdbus-1.so.3": "dbus-libs",
    "libwayland-client.so.0": "libwayland-client",
    "libwayland-cursor.so.0": "libwayland-cursor",
    "libwayland-egl.so.1": "libwayland-egl",
}


def debian_package(soname: str) -> str:
    """Debian's package for a shared library: libfoo.so.N is in libfooN (lower case), or libfoo-N
    when foo ends in a digit (libxcb-icccm.so.4 -> libxcb-icccm4, libX11.so.6 -> libx11-6)."""
    if soname in DEBIAN_EXCEPTIONS:
        return DEBIAN_EXCEPTIONS[soname]
    m = re.fullmatch(r"(.+)\.so\.(\d+)(?:\.\d+)*", soname)
    if not m:
        return soname
    stem, major = m.group(1).lower(), m.group(2)
    return f"{stem}-{major}" if stem[-1].isdigit() else f"{stem}{major}"


def fedora_package(soname: str) -> str:
    if soname in FEDORA_PACKAGES:
        return FEDORA_PACKAGES[soname]
    if soname.startswith("libxcb") and soname.endswith((".so.0", ".so.1")):
        return "libxcb"  # randr, shm, sync, xfixes, render, shape, xkb, xinerama, xinput, ...
    return f"'{soname}()(64bit)'"


def missing_from_ldd(output: str) -> list[str]:
    """Sonames ``ldd`` reports as not found, each once, in order of appearance."""
    seen: list[str] = []
    for line in output.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+not found", line)
        if m and m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def os_family(os_release: str | None = None) -> str:
    """'debian', 'fedora' or 'other', from /etc/os-release (ID and ID_LIKE)."""
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
        except OSError:
            os_release = ""
    ids: list[str] = []
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            ids += value.strip().strip('"').lower().split()
    if any(i in ("debian", "ubuntu") for i in ids):
        return "debian"
    if any(i in ("fedora", "rhel", "centos") for i in ids):
        return "fedora"
    return "other"


def install_command(missing: list[str], family: str, root: bool = False) -> str:
    """The one command that installs the packages providing ``missing``."""
    sudo = "" if root else "sudo "
    if family == "fedora":
        pkgs = dict.fromkeys(fedora_package(s) for s in missing)
        return f"{sudo}dnf install {' '.join(pkgs)}"
    pkgs = dict.fromkeys(debian_package(s) for s in missing)
    return f"{sudo}apt-get install {' '.join(pkgs)}"


@dataclass
class Verdict:
    ok: bool
    message: str = ""  # what to print when not ok (may be several lines)
    missing: list[str] = field(default_factory=list)


def platform_plugin(name: str) -> Path | None:
    """PySide6's plugin for platform ``name`` (e.g. xcb), found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = Path(base) / "Qt" / "plugins" / "platforms" / f"libq{name}.so"
        if path.exists():
            return path
    return None


def chosen_platform(env: dict[str, str]) -> str | None:
    """The Qt platform that will be used, or None when there is no display at all."""
    requested = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip().lower()
    if requested:
        return requested
    if env.get("DISPLAY"):
        return "xcb"
    if env.get("WAYLAND_DISPLAY"):
        return "wayland"
    return None


def missing_message(
    platform: str, plugin: Path, missing: list[str], family: str, root: bool
) -> str:
    lines = [
        f"explorer: the window cannot open: Qt's {platform} platform plugin needs "
        f"{len(missing)} system {'library' if len(missing) == 1 else 'libraries'} this "
        f"machine lacks: {', '.join(missing)}"
    ]
    if family == "other":
        lines.append("  Debian/Ubuntu: " + install_command(missing, "debian", root))
        lines.append("  Fedora:        " + install_command(missing, "fedora", root))
    else:
        lines.append("  install them with:  " + install_command(missing, family, root))
    lines.append(
        f"  (found by `ldd {plugin}`; Qt's own message would name libxcb-cursor0 "
        "whatever is missing)"
    )
    return "\n".join(lines)


def check_libraries(
    platform: str,
    ldd_output: str | None = None,
    family: str | None = None,
    root: bool | None = None,
) -> Verdict:
    """ldd on the platform plugin: Verdict(ok) or the missing libraries and how to install them.
    ``ldd_output`` may be given (tests); otherwise ldd is run (skipped when ldd is absent)."""
    plugin = platform_plugin(platform)
    if ldd_output is None:
        ldd = shutil.which("ldd")
        if plugin is None or ldd is None:
            return Verdict(True)
        try:
            ldd_output = subprocess.run(
                [ldd, str(plugin)], capture_output=True, text=True, timeout=20
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return Verdict(True)
    missing = missing_from_ldd(ldd_output)
    if not missing:
        return Verdict(True)
    family = os_family() if family is None else family
    root = (hasattr(os, "geteuid") and os.geteuid() == 0) if root is None else root
    shown = plugin or Path(f"PySide6/Qt/plugins/platforms/libq{platform}.so")
    return Verdict(False, missing_message(platform, shown, missing, family, root), missing)


PROBE = (
    "import sys\n"
    "from PySide6.QtGui import QGuiApplication\n"
    "app = QGuiApplication(sys.argv[:1])\n"
    "print(app.platformName())\n"
)


def probe(timeout: float = 15.0) -> Verdict:
    """Start a bare QGuiApplication in a subprocess: Qt aborts the process when the platform
    cannot be initialised, which must not happen to the real window. A probe that does not
    finish in time is not held against the machine."""
    try:
        r = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return Verdict(True)
    except OSError:
        return Verdict(True)
    if r.returncode == 0:
        return Verdict(True)
    lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
    cause = next((ln for ln in lines if "connect to display" in ln.lower()), None)
    if cause:
        display = os.environ.get("DISPLAY", "")
        return Verdict(
            False,
            f"explorer: the window cannot open: no X server answers at DISPLAY={display} ({cause})",
        )
    # Skip Qt's hint about xcb-cursor0, printed whatever the cause.
    useful = [ln for ln in lines if "xcb-cursor0" not in ln]
    first = useful[0] if useful else f"exit status {r.returncode}"
    return Verdict(
        False, f"explorer: the window cannot open: Qt could not start its platform plugin: {first}"
    )


def preflight(env: dict[str, str] | None = None, run_probe: bool = True) -> Verdict:
    """Everything ``explorer gui`` checks before it imports Qt."""
    env = dict(os.environ if env is None else env)
    if env.get("EXPLORER_NO_PREFLIGHT", "") not in ("", "0"):
        return Verdict(True)
    if not sys.platform.startswith("linux"):
        return Verdict(True)
    platform = chosen_platform(env)
    if platform is None:
        return Verdict(
            False,
            "explorer: no display: neither DISPLAY nor WAYLAND_DISPLAY is set "
            "(open it from a desktop session, use `ssh -X`, or set "
            "QT_QPA_PLATFORM=offscreen for --screenshot/--plots batch runs)",
        )
    if platform in HEADLESS_PLATFORMS:
        return Verdict(True)
    verdict = check_libraries(platform)
    if not verdict.ok or not run_probe:
        return verdict
    return probe()


if __name__ == "__main__":
    # `make run` asks this before the multi-minute warm-up: a machine without the window's system
    # libraries learns it in a second, with the command that installs them.
    result = preflight()
    if not result.ok:
        print(result.message, file=sys.stderr)
    sys.exit(0 if result.ok else 3)
