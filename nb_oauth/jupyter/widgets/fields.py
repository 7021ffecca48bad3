"""The datasource form's fields: labels and help from the seed (Appsmith's OAuth 2.0 datasource
page), which grant shows each one up front, and the input widget of each kind.

The seed lists one field set per grant type; those fields are the form's main section. The fields
nb_oauth adds sit under "More settings", and so do the seed fields a grant's set
leaves out but the datasource still uses (Header Prefix and Client Authentication for client
credentials).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import ipywidgets as w
import traitlets

__all__ = ["FIELDS", "FieldRow", "FieldSpec", "KeyValueRows"]

AUTH_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
_BOTH = frozenset({AUTH_CODE, CLIENT_CREDENTIALS})
_AUTH_CODE_ONLY = frozenset({AUTH_CODE})

Kind = Literal["text", "choice", "secret", "params", "port", "seconds", "flag"]

_LABEL_WIDTH = "210px"
_INPUT_WIDTH = "420px"


@dataclass(frozen=True)
class FieldSpec:
    """One form field. ``main`` names the grants whose seed field set lists it; ``grants`` the
    grants it applies to at all (it is hidden for the others)."""

    name: str
    label: str
    help: str
    kind: Kind = "text"
    main: frozenset[str] = _BOTH
    grants: frozenset[str] = _BOTH
    choices: tuple[tuple[str, str], ...] = ()
    placeholder: str = ""


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", "Name", "Letters, digits, - and _. Used as %%api NAME.",
              placeholder="github"),
    FieldSpec("grant", "Grant Type",
              "Authorization code: you sign in once in the browser. Client credentials: "
              "server to server, no sign-in.", kind="choice",
              choices=(("Authorization Code", AUTH_CODE),
                       ("Client Credentials", CLIENT_CREDENTIALS))),
    # The seed's field sets, in the seed's order.
    FieldSpec("token_placement", "Add Access Token To",
              "Send the access token in the Authorization header or as a query parameter.",
              kind="choice", choices=(("Header", "header"), ("Query parameter", "query"))),
    FieldSpec("header_prefix", "Header Prefix", "If left empty, Bearer is used.",
              main=_AUTH_CODE_ONLY, placeholder="Bearer"),
    FieldSpec("token_url", "Access Token URL",
              "The authorization server's POST endpoint that issues access tokens.",
              placeholder="https://provider.example/oauth/token"),
    FieldSpec("client_id", "Client ID",
              "The identifier of the credentials configured at the authorization server."),
    FieldSpec("client_secret", "Client Secret",
              "Kept in the system keyring and never shown again. Empty for public clients.",
              kind="secret"),
    FieldSpec("scopes", "Scope(s)", "Separate scopes with commas or spaces.",
              placeholder="read, write"),
    FieldSpec("authorization_url", "Authorization URL",
              "Where the browser signs in (RFC 6749 §4.1.1); it redirects back to this kernel.",
              main=_AUTH_CODE_ONLY, grants=_AUTH_CODE_ONLY,
              placeholder="https://provider.example/oauth/authorize"),
    FieldSpec("auth_params", "Custom Authentication Parameters",
              "Extra query parameters on the sign-in redirect, e.g. access_type=offline.",
              kind="params", main=_AUTH_CODE_ONLY, grants=_AUTH_CODE_ONLY),
    FieldSpec("client_auth", "Client Authentication",
              "How the client ID and secret are sent to the token endpoint.", kind="choice",
              main=_AUTH_CODE_ONLY,
              choices=(("Basic Authorization header", "basic"), ("In the request body", "body"),
                       ("None (public client)", "none"))),
    # nb_oauth's additions.
    FieldSpec("base_url", "Base URL",
              "API root for relative %%api URLs; the token is only ever sent to this origin.",
              main=frozenset(), placeholder="https://api.provider.example"),
    FieldSpec("query_param", "Query Parameter Name",
              "The parameter that carries the token when it is added to the query.",
              main=frozenset()),
    FieldSpec("body_encoding", "Token Request Body",
              "Form encoding is the standard; some servers want a JSON object.", kind="choice",
              main=frozenset(),
              choices=(("Form (RFC 6749)", "form"), ("JSON object in the request body", "json"))),
    FieldSpec("token_params", "Token Parameters",
              "Extra token request parameters, e.g. audience or resource.", kind="params",
              main=frozenset()),
    FieldSpec("extra_origins", "Extra Origins",
              "Other origins the token may be sent to, separated by spaces.", main=frozenset()),
    FieldSpec("redirect_port", "Redirect Port",
              "0 picks a free port; set one if the provider wants an exact redirect URI.",
              kind="port", main=frozenset(), grants=_AUTH_CODE_ONLY),
    FieldSpec("refresh_leeway", "Refresh Leeway (s)",
              "Renew the token this long before it expires.", kind="seconds", main=frozenset()),
    FieldSpec("send_scope_on_refresh", "Send Scope on Refresh",
              "Some servers want the scope again when a token is renewed.", kind="flag",
              main=frozenset()),
    FieldSpec("issuer", "Issuer", "Enables RFC 9207 issuer checks of the sign-in response.",
              main=frozenset()),
    FieldSpec("revocation_url", "Revocation URL",
              "RFC 7009 endpoint; Disconnect revokes the tokens there.", main=frozenset()),
)


class KeyValueRows(w.VBox):  # type: ignore[misc]
    """Editable name/value rows with an "Add" button; ``value`` is the dict they spell (rows
    without a name are ignored)."""

    value = traitlets.Dict()

    def __init__(self, value: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows: list[w.HBox] = []
        self._add = w.Button(description="Add parameter", icon="plus",
                             layout=w.Layout(width="150px"))
        self._add.on_click(self._on_add_click)
        for key, item in (value or {}).items():
            self._new_row(key, item)
        self._render()

    def _new_row(self, key: str = "", item: str = "") -> None:
        name = w.Text(value=key, placeholder="name", continuous_update=False,
                      layout=w.Layout(width="160px"))
        text = w.Text(value=item, placeholder="value", continuous_update=False,
                      layout=w.Layout(width="210px"))
        remove = w.Button(icon="trash", tooltip="Remove this parameter",
                          layout=w.Layout(width="40px"))
        row = w.HBox([name, text, remove])
        remove.on_click(lambda _button: self._on_remove_click(row))
        name.observe(self._on_text_change, names="value")
        text.observe(self._on_text_change, names="value")
        self._rows.append(row)

    def _on_add_click(self, _button: w.Button) -> None:
        self._new_row()
        self._render()

    def _on_remove_click(self, row: w.HBox) -> None:
        self._rows.remove(row)
        self._render()

    def _on_text_change(self, _change: Any) -> None:
        self._render(children=False)

    def _render(self, *, children: bool = True) -> None:
        if children:
            # Reassigned, not appended in place: traitlets only notices a new list.
            self.children = [*self._rows, self._add]
        pairs = ((row.children[0].value.strip(), row.children[1].value) for row in self._rows)
        self.value = {key: item for key, item in pairs if key}

    def set_pairs(self, pairs: Mapping[str, str]) -> None:
        """Replace every row with ``pairs``."""
        self._rows = []
        for key, item in pairs.items():
            self._new_row(key, item)
        self._render()


class FieldRow(w.VBox):  # type: ignore[misc]
    """Label, input and help on one line, and the field's validation error under it."""

    def __init__(self, spec: FieldSpec) -> None:
        super().__init__(layout=w.Layout(margin="0 0 4px 0"))
        self.spec = spec
        self.input = _input(spec)
        label = w.HTML(f"<b>{html.escape(spec.label)}</b>", layout=w.Layout(width=_LABEL_WIDTH))
        self._help = w.HTML(f"<small style='color:#666'>{html.escape(spec.help)}</small>",
                            layout=w.Layout(margin=f"0 0 0 {_LABEL_WIDTH}"))
        self._error = w.HTML("", layout=w.Layout(margin=f"0 0 0 {_LABEL_WIDTH}", display="none"))
        self.error = ""  #: the validation error shown under the field, as plain text
        self.children = [w.HBox([label, self.input]), self._help, self._error]

    def show_error(self, message: str) -> None:
        self.error = message
        self._error.value = f"<span style='color:#c62828'>⚠ {html.escape(message)}</span>"
        self._error.layout.display = None

    def clear_error(self) -> None:
        self.error = ""
        self._error.value = ""
        self._error.layout.display = "none"


def _input(spec: FieldSpec) -> Any:
    layout = w.Layout(width=_INPUT_WIDTH)
    if spec.kind == "choice":
        return w.Dropdown(options=list(spec.choices), layout=layout)
    if spec.kind == "secret":
        # continuous_update=False: the secret crosses the wire once, when the field is left.
        return w.Password(continuous_update=False, layout=layout)
    if spec.kind == "params":
        return KeyValueRows()
    if spec.kind == "port":
        return w.BoundedIntText(min=0, max=65535, continuous_update=False,
                                layout=w.Layout(width="120px"))
    if spec.kind == "seconds":
        return w.BoundedFloatText(min=0, max=86400, continuous_update=False,
                                  layout=w.Layout(width="120px"))
    if spec.kind == "flag":
        return w.Checkbox(indent=False)
    return w.Text(placeholder=spec.placeholder, continuous_update=False, layout=layout)
