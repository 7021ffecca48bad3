"""The public API is exactly ``nb_oauth.__all__``, sorted (as httpx tests its exports)."""

from __future__ import annotations

import nb_oauth


def test_all_lists_exactly_the_public_names_in_order() -> None:
    public = {n for n in dir(nb_oauth) if not n.startswith("_")} - {"annotations"} | {"__version__"}
    # Submodules become attributes once imported; they are reachable, not exported.
    modules = {name for name in public if type(getattr(nb_oauth, name)).__name__ == "module"}
    assert set(nb_oauth.__all__) == public - modules
    assert nb_oauth.__all__ == sorted(nb_oauth.__all__, key=str.casefold)
