"""Where the built front ends are: ``dltoolkit/dashboards/static/<name>.js`` and ``.css``, bundled from
``widgets/src/<name>.ts`` by ``npm run build`` (``make`` runs it; a wheel ships them)."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


def asset(filename: str) -> Path:
    """The path of a built front-end file; a ``FileNotFoundError`` that says how to build it if missing."""
    path = STATIC / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"dltoolkit's notebook dashboards are not built: {path} is missing. Run `make` in the "
            "dltoolkit repository (or `npm run build` there, with node 20), or install a dltoolkit wheel."
        )
    return path
