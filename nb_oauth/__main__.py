"""``python -m nb_oauth``: the same as the ``nb-oauth`` console script."""

import sys

from .cli import main

sys.exit(main())
