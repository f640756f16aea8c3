"""The error hierarchy. Messages name the file, line, field and what was expected."""

from __future__ import annotations


class BiotwinError(Exception):
    """Base class of every error biotwin raises on purpose."""


class DataError(BiotwinError):
    """Input data is malformed: the message names file, line, column and the problem."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ModelError(BiotwinError):
    """A model, parameter set or recipe is inconsistent (unknown name, bad value, ...)."""


class SimulationError(BiotwinError):
    """The integrator failed (step size underflow, too many steps, non-finite state)."""
