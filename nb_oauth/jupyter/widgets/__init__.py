"""ipywidgets for datasources: the form (`%datasource`, `%datasource edit NAME`)
and the status view (`%datasource show NAME` in a notebook).

No secret ever sits in a widget's synced state after a click: the client secret's `Password` is
emptied as soon as it is read, and the views show only whether secrets exist
(security.md#notebooks-and-history).
"""

from __future__ import annotations

from nb_oauth.jupyter.widgets.fields import KeyValueRows
from nb_oauth.jupyter.widgets.form import DatasourceForm
from nb_oauth.jupyter.widgets.status_area import StatusArea
from nb_oauth.jupyter.widgets.status_view import DatasourceStatusView

__all__ = ["DatasourceForm", "DatasourceStatusView", "KeyValueRows", "StatusArea"]
