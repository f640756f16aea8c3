"""Helpers shared by the command modules: JSON output and error reporting."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import typer

from biotwin.errors import BiotwinError, DataError

F = TypeVar("F", bound=Callable[..., Any])


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (NaN and inf become null)."""
    sys.stdout.write(json.dumps(_jsonable(obj), indent=2) + "\n")


def write_frame(frame: Any, out: Path, formats: tuple[str, ...] = (".csv", ".parquet", ".json")) -> None:
    """Write a table to ``out`` in the format its suffix names (one of ``formats``), making its folder."""
    suffix = out.suffix.lower()
    if suffix not in formats:
        raise DataError(f"unknown output format; use {', '.join(formats[:-1])} or {formats[-1]}", file=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        out.write_text(frame.to_json(orient="columns"))


def handle_errors(func: F) -> F:
    """Turn a :class:`BiotwinError` into a one-line message on stderr and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BiotwinError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from exc

    return wrapper  # type: ignore[return-value]


@contextmanager
def about_file(path: Any) -> Iterator[None]:
    """Name ``path`` in a :class:`DataError` raised inside that does not name a file yet, and in
    the warnings raised inside."""
    import warnings

    name = Path(str(path)).name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except DataError as exc:
            if exc.file is not None:
                raise
            raise DataError(str(exc), file=str(path)) from exc
    for w in caught:
        if issubclass(w.category, UserWarning):  # biotwin's own: about the data, so about this file
            msg = str(w.message)
            warnings.warn(msg if name in msg else f"{name}: {msg}", w.category, stacklevel=3)
        else:  # a library's, as it would have been shown (its filters still apply)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
