"""Per-department transforms, only where a department's format differs from the standard.

A registry entry names one with ``transform: <module>``; the module defines
``transform(body) -> body``. It receives the already-minimised body, so it can reshape
but never add personal data the department is not entitled to.
"""

from __future__ import annotations

import importlib

from services.core.errors import ConfigurationError
from services.delivery.routing import Transform

__all__ = ["load_transform"]


def load_transform(name: str | None) -> Transform | None:
    """The transform called ``name`` (a module in this package), or None for the standard."""
    if not name:
        return None
    if not name.isidentifier():
        raise ConfigurationError(f"transform {name!r} is not a module name")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise ConfigurationError(f"no transform module named {name!r}") from None
    function: Transform = module.transform
    return function
