"""Is anybody at the keyboard? A sign-in needs a person; a run without one (papermill,
``jupyter nbconvert --execute``, cron, CI) must fail at once instead of waiting minutes for a
browser that nobody will use.

Recognised, in this order:

* ``NB_OAUTH_NONINTERACTIVE``: ``1``/``true``/``yes`` says unattended, ``0``/``false``/``no``
  says attended, whatever else is detected (the switch for the cases detection gets wrong);
* a Jupyter kernel whose front end takes no input: papermill and ``nbconvert --execute`` run
  notebooks through nbclient, which sends every cell with ``allow_stdin`` off, while JupyterLab,
  Notebook and VS Code send it on. The runner is named when a parent process is papermill or
  nbconvert (read from ``/proc`` on Linux);
* ``CI`` set to a true value (GitHub Actions, GitLab CI and most CI services set it);
* outside a kernel, on Linux: no terminal on standard input, no display and no ``BROWSER``
  (cron, a systemd timer, a script started by another program).

Nothing is imported to find out: the kernel is looked up only if ipykernel is already loaded.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["unattended_reason"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_RUNNERS = {"papermill": "papermill", "nbconvert": "jupyter nbconvert",
            "jupyter-nbconvert": "jupyter nbconvert"}


def unattended_reason(
    environ: Mapping[str, str] | None = None,
    *,
    kernel_takes_input: Callable[[], bool | None] | None = None,
    runner: Callable[[], str | None] | None = None,
    terminal: Callable[[], bool] | None = None,
) -> str | None:
    """Why this run has nobody at the keyboard, in a few words; ``None`` when someone may be.

    The keyword arguments replace what is read from this process (for tests).
    """
    env = os.environ if environ is None else environ
    flag = env.get("NB_OAUTH_NONINTERACTIVE", "").strip().lower()
    if flag in _TRUE:
        return "NB_OAUTH_NONINTERACTIVE is set"
    if flag in _FALSE:
        return None
    takes_input = (kernel_takes_input or _kernel_takes_input)()
    if takes_input is False:
        name = (runner or _runner)()
        return f"run by {name}" if name else "the notebook runner takes no input"
    if env.get("CI", "").strip().lower() in _TRUE:
        return "CI is set"
    if takes_input is None and sys.platform.startswith("linux") and not (terminal or _terminal)():
        has_display = env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")
        if not has_display and not env.get("BROWSER"):
            return "no terminal, display or BROWSER"
    return None


def _kernel_takes_input() -> bool | None:
    """Whether the running Jupyter kernel's current request allows input; ``None`` outside a
    kernel."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is None:
        return None
    app_class = getattr(kernelapp, "IPKernelApp", None)
    if app_class is None or not app_class.initialized():
        return None
    kernel = getattr(app_class.instance(), "kernel", None)
    if kernel is None:
        return None
    return bool(getattr(kernel, "_allow_stdin", True))


def _runner(max_depth: int = 4) -> str | None:
    """papermill or nbconvert, when one of the parent processes is one (Linux only)."""
    pid = os.getppid()
    for _ in range(max_depth):
        if pid <= 1:
            return None
        proc = Path("/proc", str(pid))
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            return None
        for word in words[:4]:
            name = os.path.basename(word.decode("utf-8", "replace"))
            if name in _RUNNERS:
                return _RUNNERS[name]
        parent = [line for line in status.splitlines() if line.startswith("PPid:")]
        pid = int(parent[0].split()[1]) if parent else 0
    return None


def _terminal() -> bool:
    stdin = sys.stdin
    try:
        return stdin is not None and stdin.isatty()
    except (ValueError, OSError):  # closed or detached
        return False
