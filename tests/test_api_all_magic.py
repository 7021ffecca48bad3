"""``%%api NAME --all`` (SPEC section 12) in a testing shell against the demo API; the clock and
the retry sleep are the test's FakeClock, so the demo's rate limit costs no time."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from nb_oauth.datasource import Datasource
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import IncompleteWarning
from nb_oauth.http_cell import ApiCellError, ApiLine, parse_api_line
from nb_oauth.jupyter.display import JsonList
from nb_oauth.jupyter.magics import NbOAuthMagics, load, unload
from nb_oauth.session import Session
from tests.conftest import FakeClock


@pytest.fixture
def provider(make_provider: Callable[..., DemoProvider]) -> DemoProvider:
    return make_provider()


@pytest.fixture
def magics(ip: Any, provider: DemoProvider, clock: FakeClock) -> Iterator[NbOAuthMagics]:
    session = Session(now=clock, sleep=clock.advance)
    session.save(
        Datasource(name="cc", grant="client_credentials", token_url=provider.token_url,
                   client_id="demo-basic", scopes="items:read", base_url=provider.api_url),
        client_secret="demo-basic-secret",
    )  # fmt: skip
    registered = load(ip, session=session)
    yield registered
    unload(ip)


def test_all_stores_every_item_in_the_output_variable(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider
) -> None:
    value = ip.run_cell_magic("api", "cc --all -o records", "GET /api/records/link?per_page=60")
    assert isinstance(value, JsonList)
    assert ip.user_ns["records"] == provider.records
    assert type(ip.user_ns["records"]) is list
    assert provider.counters["records_link"] == 5


def test_all_df_returns_a_data_frame(ip: Any, magics: NbOAuthMagics) -> None:
    import pandas

    frame = ip.run_cell_magic("api", "cc --all --df -o frame", "GET /api/records/odata")
    assert isinstance(frame, pandas.DataFrame) and ip.user_ns["frame"] is frame
    assert len(frame) == 250 and "owner.team" in frame.columns


def test_max_pages_and_explicit_rules(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider
) -> None:
    ip.run_cell_magic("api", "cc --all --max-pages 2 -o first", "GET /api/records/next")
    assert ip.user_ns["first"] == provider.records[:50]
    line = "cc --all --items members --next response_metadata.next_cursor --cursor-param cursor"
    ip.run_cell_magic("api", line + " -o everything", "GET /api/records/cursor?limit=100")
    assert ip.user_ns["everything"] == provider.records


def test_the_line_form_takes_all(ip: Any, magics: NbOAuthMagics, provider: DemoProvider) -> None:
    ip.run_line_magic("api", "cc --all -o records GET /api/records/stripe?limit=100")
    assert ip.user_ns["records"] == provider.records


def test_a_rate_limit_waits_on_the_fake_clock(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider, clock: FakeClock
) -> None:
    provider.rate_limit = (4, 30)
    ip.run_cell_magic("api", "cc --all -o records", "GET /api/records/token?limit=50")
    assert ip.user_ns["records"] == provider.records
    assert provider.counters["api_429"] >= 1


def test_a_pull_that_stops_early_says_why_and_keeps_the_pages(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider
) -> None:
    provider.rate_limit = (3, 3600)  # the token request is not an API call: 3 pages pass
    with capture_output() as captured:
        value = ip.run_cell_magic("api", "cc --all -o partial", "GET /api/records/link")
    assert ip.user_ns["partial"] == provider.records[:75]
    assert list(value) == provider.records[:75]
    [line] = captured.stderr.strip().splitlines()
    assert line.startswith("cc: page 4 failed: the API answered HTTP 429 (rate limited)")
    assert "stopped after 3 pages, 75 items kept" in line and "Traceback" not in line


def test_every_call_waits_out_a_rate_limit_not_only_all(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider, clock: FakeClock
) -> None:
    provider.rate_limit = (1, 10)
    start = clock()
    assert ip.run_cell_magic("api", "cc", "GET /api/me")["client_id"] == "demo-basic"
    assert ip.run_cell_magic("api", "cc", "GET /api/me")["client_id"] == "demo-basic"
    assert clock() - start == 10  # the second call waited for Retry-After on the fake clock
    assert provider.counters["api_429"] == 1


def test_a_rate_limit_too_long_to_wait_is_one_line_saying_when(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider
) -> None:
    provider.rate_limit = (1, 3600)
    ip.run_cell_magic("api", "cc", "GET /api/me")
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("api", "cc", "GET /api/me")
    message = str(caught.value)
    assert message.startswith("cc: the API answered HTTP 429 (rate limited): it asks to wait")
    assert "try again after" in message and "\n" not in message


def test_an_interrupt_keeps_what_was_fetched_in_the_variable(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider
) -> None:
    real = httpx.HTTPTransport()

    def interrupt_on_page_3(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "3":
            raise KeyboardInterrupt  # what Jupyter's "Interrupt kernel" does to a running cell
        return real.handle_request(request)

    magics._clients["cc"] = magics.context.session.client(
        "cc", transport=httpx.MockTransport(interrupt_on_page_3)
    )
    with pytest.warns(IncompleteWarning, match="interrupted after 2 pages: returning the 100"):
        ip.run_cell_magic("api", "cc --all -o partial", "GET /api/records/link?per_page=50")
    assert ip.user_ns["partial"] == provider.records[:100]
    real.close()


def test_a_missing_items_path_is_one_line_naming_the_keys(
    ip: Any, magics: NbOAuthMagics
) -> None:
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("api", "cc --all --items rows", "GET /api/records/next")
    assert str(caught.value) == (
        "cc: items path 'rows': the page has no 'rows'; its keys are: items, next "
        "(nothing fetched)"
    )


def test_df_without_pandas_says_how_to_install_it(
    ip: Any, magics: NbOAuthMagics, monkeypatch: pytest.MonkeyPatch, provider: DemoProvider
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    provider.reset_counters()
    with pytest.raises(UsageError, match=r"pip install 'nb_oauth\[pandas\]'$"):
        ip.run_cell_magic("api", "cc --all --df", "GET /api/records/link")
    assert provider.counters.get("records_link", 0) == 0


def test_all_needs_a_get(ip: Any, magics: NbOAuthMagics) -> None:
    with pytest.raises(UsageError, match="follows the pages of a GET"):
        ip.run_cell_magic("api", "cc --all", 'POST /api/items\n\n{"name": "x"}')


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("cc --df", "--df goes with --all"),
        ("cc --items data", "--items goes with --all"),
        ("cc --all --response", "drop one"),
        ("cc --all --max-pages 0", "--max-pages needs a whole number"),
        ("cc --all --max-pages", "--max-pages needs a value"),
        ("cc --all --next", "--next needs a value"),
        ("cc --pages", "unknown option '--pages'"),
    ],
)
def test_bad_magic_lines(line: str, message: str) -> None:
    with pytest.raises(ApiCellError, match=message):
        parse_api_line(line, cell=True)


def test_the_magic_line_parses_every_option() -> None:
    parsed = parse_api_line(
        "crm --all --max-pages 5 --items data.rows --next meta.next --cursor-param after --df "
        "-o frame",
        cell=True,
    )
    assert parsed == ApiLine(
        name="crm", output="frame", all_pages=True, max_pages=5, items="data.rows",
        next_path="meta.next", cursor_param="after", df=True,
    )  # fmt: skip
    assert parse_api_line("crm GET /x", cell=False) == ApiLine(name="crm", words=("GET", "/x"))
