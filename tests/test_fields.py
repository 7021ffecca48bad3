"""One table of datasource fields drives the Datasource, the magic's options, the form and show."""

from __future__ import annotations

import dataclasses

from nb_oauth.datasource import Datasource
from nb_oauth.fields import FIELDS, field
from nb_oauth.jupyter.datasource_magic import _field_parser
from nb_oauth.jupyter.display import _SHOWN_FIELDS

#: Datasource attributes that are not fields a user fills in: a test-rig switch.
INTERNAL = {"insecure_transport", "metadata_fetched_at"}


def test_the_table_and_the_datasource_name_the_same_fields_in_the_same_order() -> None:
    declared = [f.name for f in dataclasses.fields(Datasource) if f.name not in INTERNAL]
    stored = [f.name for f in FIELDS if not f.secret]
    assert sorted(stored) == sorted(declared)
    assert [f.name for f in FIELDS if f.secret] == ["client_secret"]


def test_every_field_but_the_name_and_the_secret_is_a_magic_option() -> None:
    parser = _field_parser("%datasource add", editing=False)
    flags = set(parser._option_string_actions)
    for f in FIELDS:
        if f.name == "name" or f.secret:
            assert f.flag not in flags  # the secret is never a magic argument
        else:
            assert f.flag in flags, f.name
    assert field("auth_params").flag == "--auth-param"  # repeatable options are singular


def test_the_form_has_a_row_per_field_and_show_lists_every_stored_field() -> None:
    from nb_oauth.jupyter.widgets import DatasourceForm
    from nb_oauth.session import Session

    form = DatasourceForm(Session())
    assert list(form._rows) == [f.name for f in FIELDS]
    assert set(_SHOWN_FIELDS) == {f.name for f in FIELDS if not f.secret} - {"name"}


def test_choices_are_the_values_the_datasource_accepts() -> None:
    for f in FIELDS:
        for _, value in f.choices:
            changes = {f.name: value}
            if value == "client_credentials":
                changes["authorization_url"] = None
            if value == "device_code":
                changes["device_authorization_url"] = "https://as.example/device"
            Datasource(name="x", token_url="https://as.example/t", client_id="c",
                       authorization_url="https://as.example/a").replace(**changes)
