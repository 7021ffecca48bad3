"""`DatasourceForm`: the seed's datasource form as ipywidgets.

The form only gathers values. Validation is the `Datasource` constructor's (its `ConfigError`
names the field, so the message is put under that field), saving is `Session.save`, and consent
is `nb_oauth.consent.flow.connect`, run in the background by the `StatusArea`.

The client secret (security.md#notebooks-and-history): the `Password` value is read once per click
and reset to `""` at once, before anything is validated, so a secret never outlives the click in the
widget's synced state (which the frontend holds, and a notebook saves when "save widget state" is
on). Until a save succeeds it waits in kernel memory as a `Secret`, so fixing a typo elsewhere does
not mean typing it again. It is never pre-filled: editing shows the field blank, and blank keeps the
stored secret.
"""

from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import traitlets

from nb_oauth.consent.flow import DEFAULT_TIMEOUT_S, open_in_new_tab
from nb_oauth.datasource import SERVER_CALLBACK_PATH, Datasource, loopback_redirect_uri
from nb_oauth.errors import ConfigError, NbOAuthError
from nb_oauth.jupyter.display import LINK_STYLE, missing_base_url_hint
from nb_oauth.jupyter.notices import storage_notices
from nb_oauth.jupyter.widgets.fields import CLIENT_CREDENTIALS, FIELDS, FieldRow
from nb_oauth.jupyter.widgets.status_area import StatusArea
from nb_oauth.secret import Secret
from nb_oauth.session import missing_secret

if TYPE_CHECKING:
    from nb_oauth.session import Session

__all__ = ["DatasourceForm"]

_NEW_SECRET = "Leave blank for a public client"
_KEEP_SECRET = "Leave blank to keep the stored secret"
_PENDING_SECRET = "Entered; it is saved with the next successful Save"


class DatasourceForm(w.VBox):  # type: ignore[misc]
    """A form that saves a datasource to ``session``, and can start its sign-in.

    ``edit=NAME`` opens a saved datasource (its name is then fixed); otherwise the form creates a
    new one, starting from ``prefill`` (field name → value). ``on_saved(name)`` is called after
    each save (the magics drop their cached client there). ``open_url`` and ``timeout`` go to the
    sign-in. ``datasource`` is the last saved `Datasource` (never a secret); the sign-in's state
    is ``status.consent``.
    """

    datasource = traitlets.Instance(Datasource, allow_none=True)

    def __init__(
        self,
        session: Session,
        *,
        edit: str | None = None,
        prefill: Mapping[str, Any] | None = None,
        on_saved: Callable[[str], None] | None = None,
        open_url: Callable[[str], bool] = open_in_new_tab,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(layout=w.Layout(max_width="960px"))
        self._session = session
        self._on_saved = on_saved
        self._editing: str | None = None
        self._pending_secret: Secret | None = None
        self._rows = {spec.name: FieldRow(spec) for spec in FIELDS}
        self._filled_by_preset: set[str] = set()
        self._title = w.HTML()
        self._main = w.VBox()
        self._more = w.VBox()
        self._accordion = w.Accordion(children=[self._more], titles=("More settings",),
                                      selected_index=None)
        self._save = w.Button(description="Save", icon="save")
        self._authorize = w.Button(description="Save and authorize", icon="sign-in",
                                   button_style="primary", layout=w.Layout(width="180px"))
        self.status = StatusArea(session, open_url=open_url, timeout=timeout)
        self.children = [
            self._title,
            self._main,
            self._accordion,
            w.HBox([self._save, self._authorize], layout=w.Layout(margin="8px 0")),
            self.status,
        ]
        self._save.on_click(self._on_save_click)
        self._authorize.on_click(self._on_authorize_click)
        self._input("grant").observe(self._on_grant_change, names="value")
        self._input("token_placement").observe(self._on_token_placement_change, names="value")
        self._input("provider").observe(self._on_provider_change, names="value")
        self._input("provider_options").observe(self._on_provider_change, names="value")
        if edit is None:
            self._fill({**_defaults(), **(prefill or {})})
            self._set_mode(None)
        else:
            # Defaults first: with a preset, the config holds only what the user gave.
            self._fill({**_defaults(), **session.datasource(edit).to_config()})
            self._set_mode(edit)
        self._arrange()

    # -- handlers ------------------------------------------------------------------------------

    def _on_save_click(self, button: w.Button) -> None:
        self._submit(button, authorize=False)

    def _on_authorize_click(self, button: w.Button) -> None:
        self._submit(button, authorize=True)

    def _on_grant_change(self, _change: Any) -> None:
        self._arrange()

    def _on_token_placement_change(self, _change: Any) -> None:
        self._arrange()

    def _on_provider_change(self, change: Any) -> None:
        self._apply_preset(reset_options=change["owner"] is self._input("provider"))

    def _apply_preset(self, *, reset_options: bool) -> None:
        """A preset fills its fields and greys them (choose no preset to give them yourself),
        offers its options, and says where to register the app and which redirect URI."""
        from nb_oauth.presets import PRESETS, preset_defaults

        preset = PRESETS.get(self._input("provider").value)
        options_input = self._input("provider_options")
        if reset_options and preset is not None:
            options_input.set_pairs({o.name: o.default or "" for o in preset.options})
        try:
            defaults = preset_defaults(preset.name, options_input.value) if preset else {}
        except ConfigError:
            defaults = {}  # options still incomplete: nothing is filled until they are
        filled = {n: v for n, v in defaults.items() if isinstance(v, str) and n in self._rows}
        for name in self._filled_by_preset - set(filled):
            self._input(name).disabled = False
        for name, value in filled.items():
            self._input(name).value = value
            self._input(name).disabled = True
        self._filled_by_preset = set(filled)
        provider_row = self._rows["provider"]
        if preset is None:
            provider_row.set_help(html.escape(provider_row.spec.help))
        else:
            redirect, also = self._redirect_to_register()
            register = preset.register.format_map(
                {o.name: options_input.value.get(o.name) or o.default or o.name
                 for o in preset.options}
            )
            provider_row.set_help(
                f"Register the app at <a href='{html.escape(register, quote=True)}' "
                f"target='_blank' style='{LINK_STYLE}'>{html.escape(register)}</a> with the "
                f"redirect URI <code>{html.escape(redirect)}</code>{html.escape(also)}. "
                f"{html.escape(preset.notes)}"
            )

    def _redirect_to_register(self) -> tuple[str, str]:
        """The redirect URI to register, and what else to do: a server callback given in the
        form; else the one this environment suggests (JupyterHub, NB_OAUTH_PUBLIC_URL), to put
        in Redirect URI too; else the loopback URI."""
        from nb_oauth.consent.server_callback import suggested_server_uri

        given = str(self._input("redirect_uri").value or "").strip()
        if given.endswith(SERVER_CALLBACK_PATH):
            return given, ""
        suggested, _ = suggested_server_uri(os.environ)
        if suggested is not None:
            return suggested, " (and give it as the Redirect URI under More settings)"
        return loopback_redirect_uri(self._input("redirect_port").value or 0), ""

    def _submit(self, button: w.Button, *, authorize: bool) -> None:
        with self.status.out:
            button.disabled = True
            try:
                self._save_and_maybe_authorize(authorize)
            finally:
                button.disabled = False

    def _save_and_maybe_authorize(self, authorize: bool) -> None:
        self.status.clear()
        for row in self._rows.values():
            row.clear_error()
        self._take_secret()
        try:
            ds = self._build()
            # E.g. no keyring here: secrets stay in kernel memory, said in one line.
            with storage_notices(self.status.say):
                self._session.save(ds, client_secret=self._pending_secret)
        except ConfigError as exc:
            self._show_config_error(exc)
            return
        except NbOAuthError as exc:
            # Storage errors are one line that says what to do; the secret is kept for a retry.
            self.status.error(f"Not saved: {exc}")
            return
        stored_secret = self._pending_secret is not None
        self._pending_secret = None
        self._set_mode(ds.name)
        if self._on_saved is not None:
            self._on_saved(ds.name)
        self.datasource = ds
        where = self._session.store.secret_location(ds.name)
        self.status.say(
            f"Saved {ds.name}" + (f"; its client secret is kept in {where}." if stored_secret
                                  else ".")
        )
        hint = missing_base_url_hint(ds)
        if hint:
            self.status.say(hint)
        if authorize and ds.grant != CLIENT_CREDENTIALS:
            self.status.start_consent(ds.name)
        else:
            self.status.show_status(ds.name)

    # -- reading and writing the fields --------------------------------------------------------

    def _take_secret(self) -> None:
        secret_input = self._input("client_secret")
        typed = secret_input.value.strip()
        secret_input.value = ""  # security.md#notebooks-and-history: out of the synced state before
        # anything else happens
        if typed:
            self._pending_secret = Secret(typed)
        self._update_secret_placeholder()

    def _build(self) -> Datasource:
        """The datasource the fields describe. Raises one `ConfigError` whose ``problems`` are
        every invalid field, so a click shows them all."""
        values = {
            spec.name: _read(spec.kind, self._input(spec.name).value)
            for spec in FIELDS
            # Fields a preset filled are the preset's: left out, so a corrected preset reaches
            # them (the config keeps only what the user gave).
            if spec.name not in ("name", "client_secret", *self._filled_by_preset)
        }
        name = self._editing or self._input("name").value
        problems: list[ConfigError] = []
        ds: Datasource | None = None
        try:
            if self._editing is not None:
                # `replace` keeps what the form does not show (insecure_transport).
                ds = self._session.datasource(self._editing).replace(**values)
            else:
                ds = Datasource(name=name, **values)
        except ConfigError as exc:
            problems += exc.problems
        if self._editing is None and name in self._session.names():
            problems.append(ConfigError(
                "name", f"{name!r} exists",
                f"pick another name, or change it with %datasource edit {name}",
            ))
        stored = self._editing is not None and self._session.store.load_secret(name)
        problem = missing_secret(
            name, values["grant"], self._pending_secret is not None or bool(stored)
        )
        if problem is not None:
            problems.append(problem)
        if problems:
            order = [spec.name for spec in FIELDS]
            raise ConfigError.of(sorted(
                problems, key=lambda p: order.index(p.field) if p.field in order else len(order)
            ))
        assert ds is not None
        return ds

    def _fill(self, config: Mapping[str, Any]) -> None:
        for spec in FIELDS:
            if spec.name in config and spec.kind != "secret":
                value = config[spec.name]
                widget = self._input(spec.name)
                if spec.kind == "params":
                    widget.set_pairs(dict(value or {}))
                elif spec.kind == "text":
                    widget.value = _shown(value)
                else:
                    widget.value = value
        self._apply_preset(reset_options=False)  # the preset's fields over the blank defaults

    def _show_config_error(self, exc: ConfigError) -> None:
        for problem in exc.problems:
            row = self._rows.get(problem.field)
            if row is None:
                continue
            row.show_error(problem.detail.removeprefix(f"{problem.field}: "))
            if row in self._more.children:
                self._accordion.selected_index = 0  # never hide a field that needs fixing
        for problem in exc.problems:
            self.status.error(f"Not saved: {problem.detail}")
        if self._pending_secret is not None:
            self.status.say("The client secret you typed is kept for the next Save.")

    # -- layout --------------------------------------------------------------------------------

    def _set_mode(self, editing: str | None) -> None:
        self._editing = editing
        self._input("name").disabled = editing is not None
        title = "New OAuth 2.0 datasource" if editing is None else f"Datasource {editing}"
        self._title.value = f"<h3 style='margin:4px 0'>{html.escape(title)}</h3>"
        self._update_secret_placeholder()

    def _update_secret_placeholder(self) -> None:
        if self._pending_secret is not None:
            placeholder = _PENDING_SECRET
        elif self._editing is not None and self._session.store.load_secret(self._editing):
            placeholder = _KEEP_SECRET
        else:
            placeholder = _NEW_SECRET
        self._input("client_secret").placeholder = placeholder

    def _arrange(self) -> None:
        grant = self._input("grant").value
        hidden = {"query_param"} if self._input("token_placement").value == "header" else {
            "header_prefix"}
        shown = [s for s in FIELDS if grant in s.grants and s.name not in hidden]
        self._main.children = [self._rows[s.name] for s in shown if grant in s.main]
        self._more.children = [self._rows[s.name] for s in shown if grant not in s.main]
        # Client credentials need no consent (RFC 6749 §4.4): Save is all there is.
        self._authorize.layout.display = "none" if grant == CLIENT_CREDENTIALS else None

    def _input(self, name: str) -> Any:
        return self._rows[name].input

    def field_error(self, name: str) -> str:
        """The validation error shown under field ``name`` (plain text), or ``""``."""
        return self._rows[name].error


def _defaults() -> dict[str, Any]:
    return {
        f.name: f.default
        for f in dataclasses.fields(Datasource)
        if f.default is not dataclasses.MISSING
    }


def _read(kind: str, value: Any) -> Any:
    if kind == "text":
        return value.strip()
    if kind == "params":
        return dict(value)
    return value


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)
