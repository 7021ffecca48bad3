"""Whole collections (SPEC section 12): every next-page style against the demo API on 127.0.0.1,
the rate limit of the demo API with a FakeClock (waits cost no time), and the bad inputs of issue
17 against scripted misbehaving servers (httpx.MockTransport)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import nb_oauth
from nb_oauth import fetch as fetch_module
from nb_oauth.datasource import Datasource
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import IncompleteWarning, PagingError, RateLimited, ReauthRequired
from nb_oauth.fetch import afetch_pages, fetch_pages
from nb_oauth.pages import DEFAULT_MAX_PAGES, PageProblem, PageRules, items_of, next_link
from nb_oauth.retries import RetryTransport
from nb_oauth.session import Session
from tests.conftest import EPOCH, FakeClock
from tests.test_client_integration import connect, user_datasource

STYLES = ("link", "next", "odata", "cursor", "token", "stripe")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def provider(make_provider: Callable[..., DemoProvider]) -> DemoProvider:
    return make_provider(auto_approve=True)


@pytest.fixture
def session(provider: DemoProvider, clock: FakeClock) -> Session:
    async def async_sleep(seconds: float) -> None:
        clock.advance(seconds)

    session = Session(now=clock, sleep=clock.advance, async_sleep=async_sleep)
    session.save(
        Datasource(name="cc", grant="client_credentials", token_url=provider.token_url,
                   client_id="demo-basic", scopes="items:read", base_url=provider.api_url),
        client_secret="demo-basic-secret",
    )  # fmt: skip
    return session


# -- the demo API, every style ----------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_every_next_page_style_pulls_the_whole_collection(
    provider: DemoProvider, session: Session, style: str
) -> None:
    items = nb_oauth.fetch_all(
        "cc", f"/api/records/{style}", params={"per_page": 40}, session=session, progress=False
    )
    assert items == provider.records
    assert provider.counters[f"records_{style}"] == 7  # 250 records, 40 a page


@pytest.mark.anyio
@pytest.mark.parametrize("style", ["link", "cursor", "stripe"])
async def test_afetch_all_pulls_the_same_collection(
    provider: DemoProvider, session: Session, style: str
) -> None:
    items = await nb_oauth.afetch_all(
        "cc", f"/api/records/{style}", params={"limit": 100}, session=session, progress=False
    )
    assert items == provider.records


@pytest.mark.anyio
async def test_afetch_all_waits_out_the_demo_rate_limit_on_the_fake_clock(
    provider: DemoProvider, session: Session, clock: FakeClock
) -> None:
    provider.rate_limit = (2, 5)
    items = await nb_oauth.afetch_all(
        "cc", "/api/records/odata", params={"per_page": 50}, session=session, progress=False
    )
    assert items == provider.records
    assert provider.counters["api_429"] >= 2 and clock() - EPOCH >= 10


def test_max_pages_stops_early_without_a_warning(provider: DemoProvider, session: Session) -> None:
    items = nb_oauth.fetch_all(
        "cc", "/api/records/link", params={"per_page": 40}, max_pages=2, session=session,
        progress=False,
    )  # fmt: skip
    assert items == provider.records[:80]
    assert provider.counters["records_link"] == 2


def test_df_returns_a_json_normalized_data_frame(provider: DemoProvider, session: Session) -> None:
    import pandas

    frame = nb_oauth.fetch_all(
        "cc", "/api/records/cursor", params={"limit": 100}, df=True, session=session,
        progress=False,
    )  # fmt: skip
    assert isinstance(frame, pandas.DataFrame)
    assert len(frame) == 250
    assert {"id", "category", "amount", "owner.team", "owner.id"} <= set(frame.columns)
    expected = pandas.json_normalize(provider.records)
    assert frame[sorted(frame.columns)].equals(expected[sorted(expected.columns)])


def test_the_demo_rate_limit_is_waited_out_with_the_fake_clock(
    provider: DemoProvider, session: Session, clock: FakeClock, caplog: Any
) -> None:
    provider.rate_limit = (3, 10)  # 3 requests per 10 s of the shared clock
    with caplog.at_level(logging.INFO, logger="nb_oauth.retries"):
        items = nb_oauth.fetch_all(
            "cc", "/api/records/next", params={"per_page": 25}, session=session, progress=False
        )
    assert items == provider.records
    assert provider.counters["api_429"] >= 3
    assert clock() - EPOCH >= 30  # the token request + 10 pages at 3 per 10 s
    waits = [r.getMessage() for r in caplog.records if r.name == "nb_oauth.retries"]
    assert waits and all("rate limited" in w and "/api/records/next" in w for w in waits)


def test_a_rate_limit_past_the_longest_wait_keeps_pages_and_tokens(
    provider: DemoProvider, clock: FakeClock
) -> None:
    # A user token with a refresh token: a rate limit never touches it.
    user = make_user_session(provider, clock)
    provider.rate_limit = (3, 3600)
    with pytest.raises(PagingError) as caught:
        nb_oauth.fetch_all(
            "demo", "/api/records/token", params={"limit": 30}, session=user, progress=False
        )
    error = caught.value
    assert error.pages == 3 and error.items == provider.records[:90]
    assert isinstance(error.__cause__, RateLimited)
    message = str(error)
    assert "\n" not in message and message.startswith("demo: page 4 failed")
    assert "try again after" in message and "stopped after 3 pages, 90 items kept" in message
    tokens = user.store.load_tokens("demo")
    assert tokens is not None and tokens.refresh_token is not None


def make_user_session(provider: DemoProvider, clock: FakeClock) -> Session:
    session = Session(now=clock, sleep=clock.advance)
    connect(session, user_datasource(provider), clock)
    return session


def test_the_first_call_failing_raises_its_own_error(
    provider: DemoProvider, clock: FakeClock
) -> None:
    session = Session(now=clock, sleep=clock.advance)
    session.save(user_datasource(provider), client_secret="demo-basic-secret")  # never connected
    with pytest.raises(ReauthRequired):
        nb_oauth.fetch_all("demo", "/api/records/link", session=session, progress=False)


# -- next-page and item rules, without a server -----------------------------------------------


@pytest.mark.parametrize(
    ("links", "body", "url", "cursor"),
    [
        ({"next": {"url": "https://a.test/x?page=2"}}, [], "https://a.test/x?page=2", None),
        ({}, {"value": [1], "@odata.nextLink": "https://a.test/v?$skip=1"},
         "https://a.test/v?$skip=1", None),
        ({}, {"items": [1], "next": "/x?page=2"}, "/x?page=2", None),
        ({}, {"data": [1], "links": {"next": "/x?page=2"}}, "/x?page=2", None),
        ({}, {"data": [1], "links": {"next": {"href": "/x?p=2"}}}, "/x?p=2", None),
        ({}, {"data": [1], "paging": {"next": "https://a.test/p2"}}, "https://a.test/p2", None),
        ({}, {"records": [1], "nextRecordsUrl": "/services/q/01-2000"},
         "/services/q/01-2000", None),
        ({}, {"members": [1], "response_metadata": {"next_cursor": "dXNlcg=="}}, None,
         ("cursor", "dXNlcg==")),
        ({}, {"files": [1], "nextPageToken": "tok"}, None, ("pageToken", "tok")),
        ({}, {"data": [{"id": "cus_9"}], "has_more": True}, None, ("starting_after", "cus_9")),
    ],
)  # fmt: skip
def test_next_page_rules(links: Any, body: Any, url: str | None, cursor: Any) -> None:
    found = next_link(links, body, items_list(body), PageRules())
    assert found is not None
    assert (found.url, found.cursor) == (url, cursor)


def items_list(body: Any) -> list[Any]:
    try:
        return items_of(body)
    except PageProblem:
        return []


@pytest.mark.parametrize(
    "body",
    [
        {"items": [1], "next": None},
        {"members": [1], "response_metadata": {"next_cursor": ""}},
        {"data": [{"id": 1}], "has_more": False},
        {"items": [1], "next": 2},  # a page number is not a URL
        [1, 2],
    ],
)
def test_the_last_page_has_no_next(body: Any) -> None:
    assert next_link({}, body, items_list(body), PageRules()) is None


def test_the_link_header_wins_over_the_body() -> None:
    found = next_link({"next": {"url": "/a"}}, {"next": "/b"}, [], PageRules())
    assert found is not None and found.url == "/a"


def test_explicit_next_path_and_cursor_param_replace_the_rules() -> None:
    body = {"rows": [1], "meta": {"after": "k7"}, "next": "/ignored"}
    rules = PageRules(items="rows", next_path="meta.after", cursor_param="after")
    found = next_link({}, body, [1], rules)
    assert found is not None and found.cursor == ("after", "k7")
    found = next_link({}, {"meta": {"more": "/p/2"}}, [], PageRules(next_path="meta.more"))
    assert found is not None and found.url == "/p/2"
    renamed = next_link({}, {"nextPageToken": "t"}, [], PageRules(cursor_param="page_token"))
    assert renamed is not None and renamed.cursor == ("page_token", "t")


@pytest.mark.parametrize(
    ("body", "items"),
    [
        ([1, 2], [1, 2]),
        ({"value": [1], "@odata.count": 1}, [1]),
        ({"ok": True, "members": [1]}, [1]),
        ({"response": {"data": [1]}}, None),
    ],
)
def test_item_rules(body: Any, items: Any) -> None:
    if items is None:
        with pytest.raises(PageProblem):
            items_of(body)
    else:
        assert items_of(body) == items
    assert items_of({"response": {"data": [1]}}, "response.data") == [1]


def test_a_missing_items_path_says_which_keys_exist() -> None:
    with pytest.raises(PageProblem) as caught:
        items_of({"data": {"children": [], "after": None}}, "data.rows")
    assert str(caught.value) == (
        "items path 'data.rows': the page has no 'rows' under 'data'; its keys are: "
        "children, after"
    )


def test_several_known_lists_ask_for_a_path() -> None:
    with pytest.raises(PageProblem, match=r"several lists \(items, data\)"):
        items_of({"items": [], "data": []})


# -- bad input from misbehaving servers --------------------------------------------------------


BASE = "https://api.example.test"


class Pages:
    """A scripted API: ``pages`` maps a request URL (path and query) to a response factory."""

    def __init__(self, pages: dict[str, Callable[[], httpx.Response]]) -> None:
        self.pages = pages
        self.requested: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = request.url.raw_path.decode()
        self.requested.append(f"{request.url.host}{key}")
        return self.pages[key]()


def page(items: list[Any], following: str | None = None, **extra: Any) -> Callable[[], Any]:
    return lambda: httpx.Response(200, json={"items": items, "next": following, **extra})


def client_for(app: Callable[[httpx.Request], httpx.Response], clock: FakeClock) -> httpx.Client:
    transport = RetryTransport(
        httpx.MockTransport(app), name="crm", now=clock, sleep=clock.advance,
        jitter=lambda low, high: high,
    )  # fmt: skip
    return httpx.Client(base_url=BASE, transport=transport)


def pull(app: Any, clock: FakeClock, **options: Any) -> Any:
    with client_for(app, clock) as client:
        return fetch_pages(client, "/things", name="crm", progress=False, **options)


def test_a_next_link_that_loops_stops_with_what_was_read(clock: FakeClock) -> None:
    app = Pages({"/things": page([1, 2], "/things?p=2"), "/things?p=2": page([3], "/things")})
    with pytest.raises(PagingError) as caught:
        pull(app, clock)
    assert caught.value.items == [1, 2, 3] and caught.value.pages == 2
    assert "repeats a page already read" in str(caught.value)
    assert "stopped after 2 pages, 3 items kept in .items" in str(caught.value)
    assert len(app.requested) == 2


def endless(request: httpx.Request) -> httpx.Response:
    number = int(request.url.params.get("cursor", "0"))
    return httpx.Response(
        200, json={"members": [number], "response_metadata": {"next_cursor": str(number + 1)}}
    )


def test_a_cursor_that_never_ends_stops_at_max_pages(clock: FakeClock) -> None:
    assert pull(endless, clock, max_pages=25) == list(range(25))


def test_a_cursor_that_never_ends_stops_at_the_default_cap_with_a_warning(
    clock: FakeClock,
) -> None:
    with pytest.warns(IncompleteWarning, match="default cap of 1000 pages") as warned:
        items = pull(endless, clock)
    assert len(items) == DEFAULT_MAX_PAGES == 1000
    assert "incomplete" in str(warned[0].message) and "max_pages=N" in str(warned[0].message)


def test_a_page_that_is_not_json_keeps_what_came_before(clock: FakeClock) -> None:
    html = lambda: httpx.Response(  # noqa: E731
        200, headers={"Content-Type": "text/html"}, content=b"<html>Sign in</html>"
    )
    app = Pages({"/things": page([1, 2], "/things?p=2"), "/things?p=2": html})
    with pytest.raises(PagingError) as caught:
        pull(app, clock)
    assert caught.value.items == [1, 2]
    assert str(caught.value) == (
        'crm: page 2 is not JSON (HTTP 200, text/html): "Sign in" '
        "(stopped after 1 page, 2 items kept in .items)"
    )


def test_an_items_path_that_does_not_exist_on_the_first_page(clock: FakeClock) -> None:
    app = Pages({"/things": page([1])})
    with pytest.raises(PagingError) as caught:
        pull(app, clock, rules=PageRules(items="rows"))
    assert "no 'rows'; its keys are: items, next" in str(caught.value)
    assert "nothing fetched" in str(caught.value)


def test_a_next_link_to_another_origin_is_refused(clock: FakeClock) -> None:
    app = Pages({"/things": page([1], "https://evil.example/steal?p=2")})
    with pytest.raises(PagingError) as caught:
        pull(app, clock)
    assert "another origin, https://evil.example" in str(caught.value)
    assert "does not send the token there" in str(caught.value)
    assert app.requested == ["api.example.test/things"]  # evil.example never asked
    assert caught.value.items == [1]


@pytest.mark.parametrize(
    ("reference", "allowed"),
    [
        ("https://API.example.test:443/things?p=2", True),  # the same origin, spelled otherwise
        ("?p=2", True),
        ("http://api.example.test/things?p=2", False),  # another scheme
        ("https://api.example.test:8443/things?p=2", False),  # another port
        ("//evil.example/things?p=2", False),  # a network-path reference
        ("https://api.example.test.evil.example/x", False),
    ],
)
def test_the_origin_of_a_next_link_is_compared_exactly(
    clock: FakeClock, reference: str, allowed: bool
) -> None:
    def app(request: httpx.Request) -> httpx.Response:
        following = None if request.url.params.get("p") else reference
        return httpx.Response(200, json={"items": [1], "links": {"next": following}})

    if allowed:
        assert pull(app, clock) == [1, 1]
    else:
        with pytest.raises(PagingError, match="another origin"):
            pull(app, clock)


def test_an_error_answer_on_a_later_page(clock: FakeClock) -> None:
    fail = lambda: httpx.Response(500, json={"error": "boom"})  # noqa: E731
    app = Pages({"/things": page([1], "/things?p=2"), "/things?p=2": fail})
    with pytest.raises(PagingError) as caught:
        pull(app, clock)
    assert caught.value.status_code == 500 and caught.value.items == [1]
    assert "page 2 answered HTTP 500" in str(caught.value)


def test_retry_after_of_a_year_mid_pull_keeps_the_pages(clock: FakeClock) -> None:
    year = lambda: httpx.Response(429, headers={"Retry-After": "31536000"})  # noqa: E731
    app = Pages({"/things": page([1], "/things?p=2"), "/things?p=2": year})
    with pytest.raises(PagingError) as caught:
        pull(app, clock)
    assert caught.value.items == [1] and clock() == EPOCH
    assert "365 days" in str(caught.value) and "try again after 2028-01-15" in str(caught.value)


def test_negative_retry_after_mid_pull_backs_off_and_continues(clock: FakeClock) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "-1"})])
    second = page([2])

    def flaky() -> httpx.Response:
        return next(answers, None) or second()

    app = Pages({"/things": page([1], "/things?p=2"), "/things?p=2": flaky})
    assert pull(app, clock) == [1, 2]
    assert clock() - EPOCH == pytest.approx(0.5)


def test_a_429_storm_past_the_budget_keeps_the_pages(clock: FakeClock) -> None:
    storm = lambda: httpx.Response(429, headers={"Retry-After": "45"})  # noqa: E731
    app = Pages({"/things": page([1, 2], "/things?p=2"), "/things?p=2": storm})
    with pytest.raises(PagingError) as caught:
        pull(app, clock)
    assert caught.value.items == [1, 2]
    assert clock() - EPOCH == 90  # two waits of 45 s; a third would pass 120 s
    assert "budget of 120 s" in str(caught.value)


def test_an_interrupt_returns_what_was_fetched_with_a_warning(clock: FakeClock) -> None:
    def interrupt() -> httpx.Response:
        raise KeyboardInterrupt

    app = Pages({"/things": page([1], "/things?p=2"), "/things?p=2": page([2], "/things?p=3"),
                 "/things?p=3": interrupt})  # fmt: skip
    with pytest.warns(IncompleteWarning) as warned:
        items = pull(app, clock)
    assert items == [1, 2]
    assert str(warned[0].message) == (
        "crm: interrupted after 2 pages: returning the 2 items fetched so far, an incomplete "
        "collection"
    )


def test_an_interrupt_with_df_returns_a_data_frame(clock: FakeClock) -> None:
    def interrupt() -> httpx.Response:
        raise KeyboardInterrupt

    app = Pages({"/things": page([{"a": {"b": 1}}], "/things?p=2"), "/things?p=2": interrupt})
    with pytest.warns(IncompleteWarning, match="after 1 page:"):
        frame = pull(app, clock, df=True)
    assert list(frame.columns) == ["a.b"]


def test_the_first_call_failing_is_raised_as_it_is(clock: FakeClock) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        pull(refused, clock)


def test_a_connection_lost_after_some_pages_keeps_them(clock: FakeClock) -> None:
    def lost() -> httpx.Response:
        raise httpx.ConnectError("refused")

    app = Pages({"/things": page([1], "/things?p=2"), "/things?p=2": lost})
    with pytest.raises(PagingError) as caught:
        pull(app, clock)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.items == [1]
    assert str(caught.value).startswith("crm: page 2 failed: refused")


def test_has_more_without_an_id_says_what_to_pass(clock: FakeClock) -> None:
    app = Pages({"/things": lambda: httpx.Response(200, json={"data": [{}], "has_more": True})})
    with pytest.raises(PagingError, match="has_more but its last item has no id"):
        pull(app, clock)


def test_df_without_pandas_is_one_line_before_any_request(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    app = Pages({"/things": page([1])})
    with pytest.raises(ImportError) as caught:
        pull(app, clock, df=True)
    assert str(caught.value) == (
        "DataFrames need pandas, which is not installed: pip install 'nb_oauth[pandas]'"
    )
    assert app.requested == []


def test_a_bad_max_pages_is_refused(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="max_pages"):
        pull(Pages({}), clock, max_pages=0)


# -- progress ------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def page(self, items: int) -> None:
        self.events.append(("page", items))

    def waiting(self, seconds: float, reason: str) -> None:
        self.events.append(("waiting", seconds, reason))

    def close(self) -> None:
        self.events.append(("close",))


def test_progress_shows_pages_items_and_waits(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(fetch_module, "progress_bar", lambda label, enabled: recorder)
    answers = iter([httpx.Response(429, headers={"Retry-After": "12"})])
    app = Pages({"/things": page([1, 2], "/things?p=2"),
                 "/things?p=2": lambda: next(answers, None) or page([3])()})  # fmt: skip
    with client_for(app, clock) as client:
        fetch_pages(client, "/things", name="crm")
    assert recorder.events == [
        ("page", 2), ("waiting", 12.0, "rate limited"), ("page", 3), ("close",)
    ]


def test_the_tqdm_bar_says_waiting_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    from nb_oauth.progress import progress_bar

    made: list[Any] = []

    class FakeTqdm:
        def __init__(self, **options: Any) -> None:
            self.options, self.postfix, self.n, self.closed = options, "", 0, False
            made.append(self)

        def set_postfix_str(self, text: str, refresh: bool = True) -> None:
            self.postfix = text

        def update(self, n: int) -> None:
            self.n += n

        def close(self) -> None:
            self.closed = True

    fake_auto = type(sys)("tqdm.auto")
    fake_auto.tqdm = FakeTqdm  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake_auto)
    bar = progress_bar("crm")
    bar.page(100)
    bar.waiting(12, "rate limited")
    bar.close()
    [tqdm] = made
    assert tqdm.n == 1 and tqdm.closed and tqdm.options["desc"] == "crm"
    assert tqdm.postfix == "100 items, waiting 12 s: rate limited"


def test_without_tqdm_there_is_no_bar_and_the_pull_works(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nb_oauth.progress import _Silent, progress_bar

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert isinstance(progress_bar("crm"), _Silent)
    app = Pages({"/things": page([1], "/things?p=2"), "/things?p=2": page([2])})
    with client_for(app, clock) as client:
        assert fetch_pages(client, "/things") == [1, 2]


@pytest.mark.anyio
async def test_async_pull_keeps_pages_on_a_loop(clock: FakeClock) -> None:
    app = Pages({"/things": page([1], "/things?p=2"), "/things?p=2": page([2], "/things?p=2")})
    async with httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(app)) as client:
        with pytest.raises(PagingError) as caught:
            await afetch_pages(client, "/things", progress=False)
    assert caught.value.items == [1, 2]


def test_a_body_without_a_json_content_type_is_still_read(clock: FakeClock) -> None:
    body = json.dumps({"items": list(range(5))}).encode()
    app = Pages({"/things": lambda: httpx.Response(200, content=body)})
    assert pull(app, clock) == [0, 1, 2, 3, 4]
