"""The datasource form's rows: the input widget of each kind of field, its label, help and error.

What the fields are (labels, help, which grant shows each one up front) is the table in
`nb_oauth.fields`; this module only turns it into widgets.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import traitlets

from nb_oauth.fields import AUTH_CODE, CLIENT_CREDENTIALS, FIELDS, Field

__all__ = ["AUTH_CODE", "CLIENT_CREDENTIALS", "FIELDS", "FieldRow", "KeyValueRows"]

_LABEL_WIDTH = "210px"
_INPUT_WIDTH = "420px"

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

    def __init__(self, spec: Field) -> None:
        super().__init__(layout=w.Layout(margin="0 0 4px 0"))
        self.spec = spec
        self.input = _input(spec)
        label = w.HTML(f"<b>{html.escape(spec.label)}</b>", layout=w.Layout(width=_LABEL_WIDTH))
        self._help = w.HTML(f"<small style='color:#666'>{html.escape(spec.help)}</small>",
                            layout=w.Layout(margin=f"0 0 0 {_LABEL_WIDTH}"))
        self._error = w.HTML("", layout=w.Layout(margin=f"0 0 0 {_LABEL_WIDTH}", display="none"))
        self.error = ""  #: the validation error shown under the field, as plain text
        self.children = [w.HBox([label, self.input]), self._help, self._error]

    def set_help(self, markup: str) -> None:
        """Replace the help line (trusted markup built by the form: escaped values only)."""
        self._help.value = f"<small style='color:#666'>{markup}</small>"

    def show_error(self, message: str) -> None:
        self.error = message
        self._error.value = f"<span style='color:#c62828'>⚠ {html.escape(message)}</span>"
        self._error.layout.display = None

    def clear_error(self) -> None:
        self.error = ""
        self._error.value = ""
        self._error.layout.display = "none"


def _input(spec: Field) -> Any:
    layout = w.Layout(width=_INPUT_WIDTH)
    if spec.name == "provider":
        # The presets are read only when a form is shown (they load lazily).
        from nb_oauth.presets import providers

        options = [("None: give the endpoints", ""), *((f"{d} ({n})", n)
                                                     for n, d in providers().items())]
        return w.Dropdown(options=options, layout=layout)
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
