"""Placeholder until the magics land: keeps ``%load_ext nb_oauth`` importable."""

from __future__ import annotations

from typing import Any

__all__ = ["load", "unload"]


def load(ipython: Any) -> None:
    return None


def unload(ipython: Any) -> None:
    return None
