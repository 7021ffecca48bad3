"""nbval runs the notebooks in this directory (options in pyproject.toml: ``--nbval-lax``, a kernel
of the test environment, a cell timeout).

Each executed notebook starts its own demo provider on 127.0.0.1 and keeps everything in the
kernel's memory. The kernel nbval starts gets ``NB_OAUTH_DEMO_HEADLESS=1``, so the notebooks point
``BROWSER`` at the stand-in browser (``python -m nb_oauth approve``) instead of waiting for a person
to press Approve, and keyring's ``fail`` backend, so a notebook that touched the real keyring would
fail instead. tests/test_notebooks.py runs the same notebooks again with nbclient and searches the
result for secrets (SEC-44).
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

#: Documentation only, never executed: a real provider needs a registered app and a person.
#: tests/test_notebooks.py checks that every notebook here is either executed or listed.
collect_ignore = ["github.ipynb"]

#: The environment of the kernels nbval starts.
KERNEL_ENV = {
    "NB_OAUTH_DEMO_HEADLESS": "1",
    # nbval sends cells with allow_stdin off, as papermill does, which nb_oauth takes for a run
    # with nobody at the keyboard; here the stand-in browser is at the keyboard.
    "NB_OAUTH_NONINTERACTIVE": "0",
    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    # nbval starts a notebook's kernel while the notebook's first cell is set up, and the kernel
    # inherits this process's environment; it is restored right after, so no other test sees it.
    saved = {key: os.environ.get(key) for key in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)
    try:
        return (yield)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
