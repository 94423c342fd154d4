"""Where the shipped schemas and default department registry live.

In a source checkout they are the top-level ``schemas/`` and ``deploy/`` folders; an
installed wheel carries copies under ``services/_data`` (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_departments_file", "schemas_dir"]

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_CHECKOUT_ROOT = _PACKAGE_ROOT.parent


def schemas_dir() -> Path:
    """The folder holding ``<type>/v<N>.json`` and ``<type>/examples/``."""
    packaged = _PACKAGE_ROOT / "_data" / "schemas"
    return packaged if packaged.is_dir() else _CHECKOUT_ROOT / "schemas"


def default_departments_file() -> Path:
    """The department registry shipped with the product."""
    packaged = _PACKAGE_ROOT / "_data" / "departments.yaml"
    return packaged if packaged.is_file() else _CHECKOUT_ROOT / "deploy" / "departments.yaml"
