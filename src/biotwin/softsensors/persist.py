"""Save and load fitted soft sensors and monitors: joblib pickle plus a JSON sidecar.

The sidecar (``<file>.json``) records what the model needs and was built with (columns,
target, versions) so it can be inspected without unpickling.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import joblib

from biotwin.errors import DataError


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar next to a model file."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def save(obj: Any, path: str | Path, meta: dict[str, Any]) -> Path:
    """Pickle ``obj`` to ``path`` (joblib) and write ``meta`` plus versions to the sidecar."""
    import numpy
    import sklearn

    import biotwin

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(obj, p)
    full = {**meta, "versions": {"biotwin": getattr(biotwin, "__version__", "unknown"),
                                 "scikit-learn": sklearn.__version__, "numpy": numpy.__version__,
                                 "python": platform.python_version()}}
    sidecar_path(p).write_text(json.dumps(full, indent=2, default=float))
    return p


def load(path: str | Path, kind: str | None = None) -> Any:
    """Load a model saved by :func:`save`; ``kind`` checks the sidecar's ``kind``."""
    p = Path(path)
    if not p.exists():
        raise DataError("model file not found", file=str(p))
    side = sidecar_path(p)
    if kind is not None and side.exists():
        meta = json.loads(side.read_text())
        if meta.get("kind") != kind:
            raise DataError(f"{p} holds a {meta.get('kind')!r}, not a {kind!r}", file=str(p))
    try:
        return joblib.load(p)
    except Exception as exc:  # unpickling errors come in many types
        raise DataError(f"cannot load model: {exc}", file=str(p)) from exc
