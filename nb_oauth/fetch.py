"""Pulling a whole collection through a datasource's client: `fetch_pages` (sync) and
`afetch_pages` (async) follow the pages that `nb_oauth.pages` finds, with a progress bar, and
return every item as one list, or as a pandas DataFrame (`to_dataframe`).

What is fetched is never thrown away:

* the kernel is interrupted (KeyboardInterrupt): the items so far are returned, with an
  `IncompleteWarning` that says how many pages and that the collection is incomplete;
* the default page cap is reached: the same, with a warning that says how to go further;
* a page cannot be used (a loop, another origin, not JSON, no items, an error answer) or a call
  fails after the first page (rate limited past the budget, connection lost, sign-in needed):
  `PagingError` says why, and keeps the items in ``.items`` (the call's own error is its
  ``__cause__``). A failure of the very first call is raised as it is.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from nb_oauth.errors import IncompleteWarning, PagingError, first_line
from nb_oauth.pages import DEFAULT_MAX_PAGES, PageProblem, PageRules, Walk, json_body
from nb_oauth.progress import Progress, progress_bar
from nb_oauth.retries import on_wait

__all__ = ["afetch_pages", "fetch_pages", "pandas_missing", "to_dataframe"]

PANDAS_HINT = "pip install 'nb_oauth[pandas]'"


def pandas_missing() -> str | None:
    """One line saying how to install pandas when it is missing, else ``None``."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return f"DataFrames need pandas, which is not installed: {PANDAS_HINT}"
    return None


def to_dataframe(items: list[Any]) -> Any:
    """``pandas.json_normalize(items)``: nested objects become dotted columns. Raises
    `ImportError` with the install line when pandas is missing."""
    problem = pandas_missing()
    if problem is not None:
        raise ImportError(problem)
    import pandas

    return pandas.json_normalize(items)


class _Pull:
    """The parts of a pull that are the same for sync and async clients."""

    def __init__(
        self,
        client: httpx.Client | httpx.AsyncClient,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        rules: PageRules,
        max_pages: int | None,
        df: bool,
        progress: bool,
        name: str | None,
    ) -> None:
        if max_pages is not None and (
            isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1
        ):
            raise ValueError("max_pages must be a whole number, 1 or more")
        if df:
            problem = pandas_missing()
            if problem is not None:
                raise ImportError(problem)  # before any request: nothing fetched is lost
        first = client.build_request("GET", url, params=params).url
        self.capped = max_pages is None
        self.walk = Walk(first, rules, DEFAULT_MAX_PAGES if max_pages is None else max_pages)
        self.df = df
        self.name = name
        self.started = time.monotonic()
        self.bar: Progress = progress_bar(f"{name or 'pages'}", progress)

    def read(self, response: httpx.Response) -> str | None:
        page = self.walk.pages + 1
        body = json_body(
            response.content,
            response.headers.get("Content-Type", ""),
            response.status_code,
            page,
        )
        following = self.walk.read(response.url, response.links, body)
        self.bar.page(len(self.walk.items))
        return following

    def result(self) -> Any:
        walk = self.walk
        if walk.more and self.capped:
            warnings.warn(
                IncompleteWarning(
                    f"{self._who()}stopped at the default cap of {walk.max_pages} pages with "
                    f"more left ({len(walk.items)} items, incomplete); pass max_pages=N "
                    "(--max-pages N) to fetch more"
                ),
                stacklevel=4,
            )
        return self._shaped()

    def interrupted(self) -> Any:
        walk = self.walk
        warnings.warn(
            IncompleteWarning(
                f"{self._who()}interrupted after {walk.pages} page{'s' * (walk.pages != 1)}: "
                f"returning the {len(walk.items)} items fetched so far, an incomplete collection"
            ),
            stacklevel=4,
        )
        return self._shaped()

    def failed(self, error: Exception) -> Exception:
        walk = self.walk
        if isinstance(error, PageProblem):
            return PagingError(
                str(error),
                items=self._shaped(),
                pages=walk.pages,
                datasource=self.name,
                status_code=error.status_code,
            )
        if walk.pages == 0:
            return error
        problem = first_line(error)
        if self.name and problem.startswith(f"{self.name}: "):
            problem = problem[len(self.name) + 2 :]  # named once, by the PagingError
        return PagingError(
            f"page {walk.pages + 1} failed: {problem}",
            items=self._shaped(),
            pages=walk.pages,
            datasource=self.name,
        )

    def _shaped(self) -> Any:
        return to_dataframe(self.walk.items) if self.df else self.walk.items

    def _who(self) -> str:
        return f"{self.name}: " if self.name else ""


def fetch_pages(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Sequence[tuple[str, str]] | None = None,
    rules: PageRules | None = None,
    max_pages: int | None = None,
    df: bool = False,
    progress: bool = True,
    name: str | None = None,
) -> Any:
    """Every item of the collection at ``url`` through ``client`` (see the module docstring);
    ``headers`` go with every page's request.

    Raises `PagingError` (what was fetched in ``.items``), `ImportError` for ``df=True`` without
    pandas (before any request), and the first call's own error when it fails. Never logs a
    token; the client's auth and retries apply to every page.
    """
    pull = _Pull(
        client, url, params=params, rules=rules or PageRules(), max_pages=max_pages, df=df,
        progress=progress, name=name,
    )  # fmt: skip
    following: httpx.URL | str | None = pull.walk.first
    try:
        with on_wait(pull.bar.waiting):
            while following is not None:
                following = pull.read(client.get(following, headers=headers))
    except KeyboardInterrupt:
        return pull.interrupted()
    except (PageProblem, httpx.HTTPError) as exc:
        error = pull.failed(exc)
        if error is exc:
            raise
        raise error from exc
    finally:
        pull.bar.close()
    return pull.result()


async def afetch_pages(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Sequence[tuple[str, str]] | None = None,
    rules: PageRules | None = None,
    max_pages: int | None = None,
    df: bool = False,
    progress: bool = True,
    name: str | None = None,
) -> Any:
    """`fetch_pages` for an `httpx.AsyncClient`: the pages are read one after the other (each
    next page is known only from the one before); cancelling the task stops the pull."""
    pull = _Pull(
        client, url, params=params, rules=rules or PageRules(), max_pages=max_pages, df=df,
        progress=progress, name=name,
    )  # fmt: skip
    following: httpx.URL | str | None = pull.walk.first
    try:
        with on_wait(pull.bar.waiting):
            while following is not None:
                following = pull.read(await client.get(following, headers=headers))
    except KeyboardInterrupt:
        return pull.interrupted()
    except (PageProblem, httpx.HTTPError) as exc:
        error = pull.failed(exc)
        if error is exc:
            raise
        raise error from exc
    finally:
        pull.bar.close()
    return pull.result()
