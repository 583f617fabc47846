"""Tiffin's IPython extension: `%load_ext tiffin` gives JupyterLab the `%%sql` and `%%upload`
cells of a scheduled notebook, moved by the runner (`runner cell`) through the same sources,
purpose policy, types and generated code as `runner exec`."""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell

from . import magics as _magics
from .magics import Session, TiffinError, find_runner, upload_summary
from .params import Parameters, collect_parameters, parameter_value, placeholders

__all__ = [
    "Parameters",
    "Session",
    "TiffinError",
    "collect_parameters",
    "find_runner",
    "load_ipython_extension",
    "parameter_value",
    "placeholders",
    "unload_ipython_extension",
    "upload_summary",
]


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Registers `%%sql`, `%%upload` and `%tiffin` (called by `%load_ext tiffin`)."""
    _magics.load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    _magics.unload(ipython)
