"""The notebooks under notebooks/: each executed one runs headless against its own demo provider,
and what it saves holds no secret (SEC-44).

nbval (configured in pyproject.toml and notebooks/conftest.py) checks that every cell runs and that
the cells marked ``# NBVAL_CHECK_OUTPUT`` still give their saved output. Here each executed notebook
runs once more with nbclient, the way Jupyter runs and saves it, widget state included. Then the
saved JSON and the kernel's input history are searched for every secret of the run: the demo
clients' secrets, and each authorization code, access token and refresh token the demo provider
issued. Those canaries are recorded inside the kernel by a probe cell added before the notebook's
first cell, and read back by a report cell after its last; both are dropped before the search.
"""

from __future__ import annotations

import base64
import json
import os
import re
import runpy
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipykernel.kernelspec
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

from nb_oauth.demo.store import demo_clients

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = (
    "quickstart.ipynb", "client-credentials.ipynb", "remote-kernel.ipynb", "providers.ipynb",
    "analysis.ipynb",
)
CHECK_OUTPUT = "# NBVAL_CHECK_OUTPUT"
CELL_TIMEOUT_S = 60

#: What each notebook shows when it ran as intended, so that finding no secret means something.
EVIDENCE = {
    "quickstart.ipynb": (
        "Connected demo: access token valid for",
        "renewed with the refresh token: True",
        "Disconnected demo: tokens revoked at the provider",
    ),
    "client-credentials.ipynb": ("(46, 'weekly report')", "token requests: 1"),
    "analysis.ipynb": (
        "Connected demo: access token valid for",
        "(250, True)",
        "Disconnected demo: tokens revoked at the provider",
    ),
    "providers.ipynb": (
        "Connected gh: access token valid for",
        "Connected gmail: access token valid for",
        "Connected graph: access token valid for",
        "Connected sf: no expiry given",
        "{'user': 'emulated'}",
        "base URL from the sign-in: True",
    ),
    "remote-kernel.ipynb": (
        "Connected hub: access token valid for",
        "refused:  an answer for another sign-in (StateMismatch)",
        "accepted: the real answer",
    ),
}

# Runs in the kernel before the notebook: records every authorization code and every demo store
# (whose `tokens` hold every access and refresh token issued), whoever creates the provider.
PROBE = """\
import nb_oauth.demo.store as _probe_store

class _ProbeCodes(dict):
    issued = []

    def __setitem__(self, code, value):
        _ProbeCodes.issued.append(code)
        super().__setitem__(code, value)

_probe_stores = []
_probe_init = _probe_store.DemoStore.__init__

def _probe_recording_init(self, *args, **kwargs):
    _probe_init(self, *args, **kwargs)
    self.codes = _ProbeCodes(self.codes)
    _probe_stores.append(self)

_probe_store.DemoStore.__init__ = _probe_recording_init

# The provider emulations (providers.ipynb): every code, access and refresh token they issue.
import nb_oauth.demo.emulation as _probe_emulation

class _ProbeSet(set):
    issued = []

    def add(self, item):
        _ProbeSet.issued.append(item)
        super().add(item)

_probe_emulations = []
_probe_emulation_init = _probe_emulation.Emulation.__init__

def _probe_recording_emulation_init(self, *args, **kwargs):
    _probe_emulation_init(self, *args, **kwargs)
    self._codes = _ProbeCodes(self._codes)
    self._refresh = _ProbeSet(self._refresh)
    _probe_emulations.append(self)

_probe_emulation.Emulation.__init__ = _probe_recording_emulation_init
"""

REPORT = """\
import json as _probe_json
print(_probe_json.dumps({
    "codes": _ProbeCodes.issued,
    "access_tokens": [t.access_token for s in _probe_stores for t in s.tokens]
    + [token for e in _probe_emulations for token in e._access],
    "refresh_tokens": [t.refresh_token for s in _probe_stores for t in s.tokens if t.refresh_token]
    + _ProbeSet.issued,
}))
"""

# A sign-in URL or a redirect with its code must never be saved (SEC-12, SEC-44).
LEAK_PATTERNS = (
    re.compile(r"[?&]code=[^&\s\"'<\\]{8,}"),
    re.compile(r"code_challenge="),
    re.compile(r"code_verifier"),
    re.compile(r"demo-(?:at|rt)-[A-Za-z0-9]"),  # the demo provider's token prefixes
)


class _ThisEnvironmentsKernels(KernelSpecManager):
    """Every kernel name means ipykernel in this test environment (like nbval's
    ``--nbval-current-env``), whatever kernelspecs the machine has installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.kernel_spec_class(
            resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
        )


class _ThisEnvironmentsKernelManager(AsyncKernelManager):
    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return _ThisEnvironmentsKernels()


@dataclass
class Run:
    name: str
    notebook: Any  # nbformat.NotebookNode, as Jupyter would save it
    saved: str  # its JSON
    history: str  # every input the kernel recorded
    issued: dict[str, list[str]]  # codes, access tokens and refresh tokens
    home: Path  # NB_OAUTH_HOME of the kernel


def _kernel_env(tmp: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NB_OAUTH_", "PYTHON_KEYRING")) and key != "BROWSER"
    }
    env.update(
        NB_OAUTH_DEMO_HEADLESS="1",
        # nbclient sends cells without stdin, which alone means unattended; the stand-in browser
        # plays the person here (notebooks/conftest.py does the same for nbval).
        NB_OAUTH_NONINTERACTIVE="0",
        NB_OAUTH_HOME=str(tmp / "nb_oauth_home"),
        # The notebooks keep everything in memory; a keyring call would fail loudly.
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        IPYTHONDIR=str(tmp / "ipython"),
    )
    return env


@pytest.fixture(scope="module", params=EXECUTED)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    name: str = request.param
    tmp = tmp_path_factory.mktemp(name.removesuffix(".ipynb"))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    notebook.cells.append(nbformat.v4.new_code_cell(REPORT))
    history_file = tmp / "history.sqlite"
    NotebookClient(
        notebook,
        kernel_manager_class=_ThisEnvironmentsKernelManager,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        # nbclient keeps history in memory by default; a Jupyter kernel writes it to disk.
        ipython_hist_file=str(history_file),
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute(env=_kernel_env(tmp))

    report = notebook.cells.pop()
    notebook.cells.pop(0)
    issued = json.loads("".join(o["text"] for o in report.outputs if o["output_type"] == "stream"))
    with closing(sqlite3.connect(history_file)) as db:
        history = "\n".join(row[0] for row in db.execute("SELECT source_raw FROM history"))
    return Run(name, notebook, nbformat.writes(notebook), history, issued, tmp / "nb_oauth_home")


def _demo_secrets() -> list[str]:
    from nb_oauth.demo.emulation import Emulation

    # The emulations' client secret (providers.ipynb) is as secret as the demo's.
    secrets: list[str] = [Emulation.client_secret]
    for client in demo_clients().values():
        if client.client_secret:
            basic = f"{client.client_id}:{client.client_secret}".encode()
            secrets += [client.client_secret, base64.b64encode(basic).decode()]
    return secrets


def _parts(canary: str) -> set[str]:
    """The canary and every 16-character piece of it: a sliced or partly masked secret leaks too."""
    width = 16
    return {canary} | {canary[i : i + width] for i in range(len(canary) - width + 1)}


def test_notebook_runs_headless_to_the_end(run: Run) -> None:
    for evidence in EVIDENCE[run.name]:
        assert evidence in run.saved, f"{run.name} did not show {evidence!r}"
    assert run.issued["access_tokens"], "the demo provider issued no token: nothing was tested"


def test_executed_notebook_and_input_history_hold_no_secret_sec_44(run: Run) -> None:
    canaries = [*_demo_secrets(), *(value for values in run.issued.values() for value in values)]
    for where, text in (("the saved notebook", run.saved), ("the input history", run.history)):
        found = [canary for canary in canaries if any(part in text for part in _parts(canary))]
        found += [m.group() for pattern in LEAK_PATTERNS for m in pattern.finditer(text)]
        assert not found, f"{run.name}: {where} holds {found}"


def test_the_search_covers_sign_ins_widget_state_and_history(run: Run) -> None:
    # The search above means something only if there was something to find.
    sources = [cell.source for cell in run.notebook.cells if cell.cell_type == "code"]
    assert all(source in run.history for source in sources), "the kernel kept no input history"
    if run.name != "client-credentials.ipynb":
        assert run.issued["codes"], f"{run.name} signed in without an authorization code?"
        assert run.issued["refresh_tokens"]
    if run.name == "quickstart.ipynb":
        state = run.notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
        assert "Datasource demo" in json.dumps(state), "no widget state was saved"
        assert len(run.issued["access_tokens"]) >= 2, "no token was renewed in the quickstart"


def test_executed_notebook_writes_no_settings_file(run: Run) -> None:
    # Session-only storage: nothing under NB_OAUTH_HOME (and the keyring backend in the kernel
    # was keyring's fail backend, which raises on use).
    assert not run.home.exists() or not any(run.home.iterdir())


# -- the notebooks as saved in the repository ---------------------------------------------------


def _all_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_every_notebook_is_executed_or_declared_documentation_only() -> None:
    documentation_only = runpy.run_path(str(NOTEBOOKS / "conftest.py"))["collect_ignore"]
    names = {path.name for path in _all_notebooks()}
    assert names == set(EXECUTED) | set(documentation_only)
    assert not set(EXECUTED) & set(documentation_only)


@pytest.mark.parametrize("path", _all_notebooks(), ids=lambda path: path.name)
def test_saved_notebook_keeps_only_the_outputs_nbval_checks(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert "widgets" not in notebook.metadata, "widget state is saved in the notebook"
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        checked = CHECK_OUTPUT in cell.source
        if path.name in EXECUTED and checked:
            assert cell.outputs, f"{path.name}: a checked cell has no saved output to compare"
        else:
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name}: unchecked cell saved with output:\n{cell.source}"
            )


@pytest.mark.parametrize("path", _all_notebooks(), ids=lambda path: path.name)
def test_saved_notebook_has_no_literal_client_secret(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"--client-secret(?!-env)[ =]", text)
    assert not re.search(r"client_secret\s*=\s*['\"]", text)
    assert not [secret for secret in _demo_secrets() if secret in text]
