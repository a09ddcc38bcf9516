"""Memory figures the bench scripts report (Linux /proc; imported as ``from _memory import ...``,
since a script run as ``python bench/x.py`` has bench/ on its path)."""

from __future__ import annotations

import resource


def vm(field: str) -> float:
    """A VmXXX line of /proc/self/status (VmRSS, VmHWM...), in MiB; nan when absent."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak() -> bool:
    """Reset the peak resident set (VmHWM) to the current one; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_mib() -> float:
    """The process's peak resident set since it started (ru_maxrss), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
