"""The window's preflight (explorer.platform_check): ldd output -> missing libraries -> the exact
packages and install command; no display -> one line. Fake ldd output, so no Qt is started."""

import os
import re
import sys
from pathlib import Path

import pytest
from helpers import run_cli, run_python

from explorer import platform_check as pc

# ldd on PySide6 6.11's libqxcb.so on a fresh Debian 12 (abridged; the two misses are real).
LDD_FRESH_DEBIAN = """\
\tlinux-vdso.so.1 (0x00007f06bfab6000)
\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f06bf958000)
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f06bedf5000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f06bedee000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f06bede6000)
\tlibxcb-keysyms.so.1 => not found
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x7f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f06bfab8000)
"""

LDD_BARE = """\
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-image.so.0 => not found
\tlibxcb-render-util.so.0 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibX11-xcb.so.1 => not found
\tlibxcb-randr.so.0 => not found
\tlibEGL.so.1 => not found
\tlibglib-2.0.so.0 => not found
\tlibgthread-2.0.so.0 => not found
"""


def test_missing_libraries_parsed_once_each_in_order():
    assert pc.missing_from_ldd(LDD_FRESH_DEBIAN) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert pc.missing_from_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


@pytest.mark.parametrize(
    "soname, debian",
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libX11.so.6", "libx11-6"),
        ("libGL.so.1", "libgl1"),
        ("libEGL.so.1", "libegl1"),
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libfontconfig.so.1", "libfontconfig1"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
    ],
)
def test_debian_package_names(soname, debian):
    assert pc.debian_package(soname) == debian


def test_fresh_debian_gets_exactly_the_two_packages_and_one_apt_command():
    v = pc.check_libraries("xcb", ldd_output=LDD_FRESH_DEBIAN, family="debian", root=False)
    assert not v.ok and v.missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1\n" in v.message + "\n"
    assert v.message.count("apt-get") == 1 and "dnf" not in v.message
    assert v.message.splitlines()[0].startswith("explorer: the window cannot open")


def test_fedora_names_and_dnf_command_deduplicated():
    cmd = pc.install_command(pc.missing_from_ldd(LDD_BARE), "fedora", root=True)
    assert cmd == (
        "dnf install xcb-util-cursor xcb-util-wm xcb-util-image xcb-util-renderutil "
        "libxkbcommon-x11 libX11-xcb libxcb libglvnd-egl glib2"
    )
    # an unknown library is asked for by what provides it, which dnf understands
    assert (
        pc.install_command(["libfoo.so.3"], "fedora", True) == "dnf install 'libfoo.so.3()(64bit)'"
    )


def test_debian_command_deduplicates_glib():
    cmd = pc.install_command(pc.missing_from_ldd(LDD_BARE), "debian", root=True)
    assert cmd.startswith("apt-get install libxcb-cursor0 libxcb-icccm4 ")
    assert cmd.split().count("libglib2.0-0") == 1


def test_unknown_distribution_shows_both_commands():
    v = pc.check_libraries("xcb", ldd_output=LDD_FRESH_DEBIAN, family="other", root=True)
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in v.message
    assert "dnf install xcb-util-wm xcb-util-keysyms" in v.message


def test_os_family_from_os_release():
    assert pc.os_family('ID=debian\nVERSION_ID="12"\n') == "debian"
    assert pc.os_family('ID=linuxmint\nID_LIKE="ubuntu debian"\n') == "debian"
    assert pc.os_family('ID="rocky"\nID_LIKE="rhel centos fedora"\n') == "fedora"
    assert pc.os_family("ID=arch\n") == "other"


def test_nothing_missing_is_ok():
    assert pc.check_libraries("xcb", ldd_output="\tlibc.so.6 => /lib/libc.so.6 (0x1)\n").ok


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the preflight is Linux-only")
def test_no_display_one_line_and_offscreen_passes():
    v = pc.preflight(env={}, run_probe=False)
    assert not v.ok and "\n" not in v.message and "no display" in v.message
    assert pc.preflight(env={"QT_QPA_PLATFORM": "offscreen"}).ok
    assert pc.preflight(env={"EXPLORER_NO_PREFLIGHT": "1"}).ok
    assert pc.chosen_platform({"DISPLAY": ":0"}) == "xcb"
    assert pc.chosen_platform({"WAYLAND_DISPLAY": "wayland-0"}) == "wayland"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the preflight is Linux-only")
def test_explorer_gui_without_display_says_so_and_exits_before_qt():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    r = run_cli("gui", env=env, timeout=120)
    assert r.returncode == 3
    assert r.stderr.strip().count("\n") == 0 and "no display" in r.stderr


def test_platform_check_does_not_import_qt():
    code = (
        "import sys, explorer.platform_check as p; p.preflight(env={}, run_probe=False); "
        "print(any(m.startswith('PySide6') for m in sys.modules))"
    )
    env = {"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"}
    r = run_python("-c", code, env=env, timeout=60)
    assert r.stdout.strip() == "False", r.stderr


def test_make_run_checks_the_window_before_the_warm_up():
    """`make run` on a machine without the window's system libraries must learn it before the
    multi-minute warm-up: the check comes first among run's prerequisites."""
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    prerequisites = re.search(r"^run:(.*)$", makefile, re.M).group(1).split()
    assert prerequisites.index("check-window") < prerequisites.index("install")
    assert re.search(
        r"^check-window: \$\(STAMP\)\n\t.*-m explorer\.platform_check$", makefile, re.M
    )


def test_platform_check_as_a_command_says_why_and_exits_3():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "EXPLORER_NO_PREFLIGHT")
    }
    done = run_python("-m", "explorer.platform_check", env=env, timeout=60)
    assert done.returncode == 3
    assert done.stderr.startswith("explorer: no display")
