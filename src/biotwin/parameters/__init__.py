"""Parameter sets: numbers with their unit, source and uncertainty, named after their paper.

Sets ship as YAML files in ``biotwin/parameters/data``; :func:`get_parameter_set` loads one
by name (or from a path). Sampling draws log-normal values around the nominal ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from biotwin.errors import ModelError
from biotwin.models import get_model
from biotwin.models.base import Model


@dataclass(frozen=True)
class Parameter:
    """One parameter value with its unit, one-sigma uncertainty and source key."""

    value: float
    unit: str
    std: float = 0.0
    source: str = ""

    @property
    def relative_sd(self) -> float:
        """std / |value| [-] (0 when the value is fixed)."""
        return abs(self.std / self.value) if self.value else 0.0


@dataclass(frozen=True)
class ParameterSet:
    """Named parameter values for one model (PyBaMM's ParameterValues, with uncertainty).

    Keys follow the model's parameter names; :meth:`vector` orders them for the solvers.
    """

    name: str
    model: str
    parameters: dict[str, Parameter]
    description: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    validity: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        name = key.split(" [")[0]
        try:
            return self.parameters[name].value
        except KeyError:
            raise ModelError(f"parameter {name!r} not in set {self.name!r}") from None

    def get_model(self) -> Model:
        return get_model(self.model)

    def check(self, model: Model | None = None) -> None:
        """Raise :class:`ModelError` if a model parameter is missing or has another unit."""
        model = model or self.get_model()
        for var in model.parameters:
            if var.name not in self.parameters:
                raise ModelError(f"parameter set {self.name!r} lacks {var.label}")
            unit = self.parameters[var.name].unit
            if unit != var.unit:
                raise ModelError(
                    f"parameter {var.name!r} of set {self.name!r} is in [{unit}], "
                    f"model {model.name} expects [{var.unit}]"
                )

    def vector(self, model: Model | None = None) -> np.ndarray:
        """Values in the model's parameter order, shape (n_parameters,)."""
        model = model or self.get_model()
        self.check(model)
        return np.array([self.parameters[v.name].value for v in model.parameters], dtype=float)

    def relative_sd_vector(self, model: Model | None = None) -> np.ndarray:
        model = model or self.get_model()
        return np.array([self.parameters[v.name].relative_sd for v in model.parameters])

    def sample(
        self,
        n: int,
        random_state: int | np.random.Generator | None = None,
        names: list[str] | None = None,
        scale: float = 1.0,
    ) -> np.ndarray:
        """Draw ``n`` parameter vectors, log-normal with sigma = relative sd x ``scale``.

        Parameters
        ----------
        n : int
            Number of draws.
        random_state : int or Generator
            Seed; same seed, same draws.
        names : list of str, optional
            Only these parameters vary (default: every parameter with a std > 0).

        Returns
        -------
        ndarray, shape (n, n_parameters)
        """
        model = self.get_model()
        rng = np.random.default_rng(random_state)
        nominal = self.vector(model)
        sigma = self.relative_sd_vector(model) * scale
        if names is not None:
            keep = np.isin(model.parameter_names, names)
            unknown = set(names) - set(model.parameter_names)
            if unknown:
                raise ModelError(f"unknown parameter(s) {sorted(unknown)} for {model.name}")
            sigma = np.where(keep, sigma, 0.0)
        z = rng.standard_normal((n, nominal.size))
        return nominal * np.exp(sigma * z - 0.5 * sigma**2)

    def with_values(self, name: str | None = None, **values: float) -> ParameterSet:
        """A copy with some values replaced (units and sources kept)."""
        params = dict(self.parameters)
        for key, val in values.items():
            if key not in params:
                raise ModelError(f"parameter {key!r} not in set {self.name!r}")
            params[key] = replace(params[key], value=float(val))
        return replace(self, name=name or self.name, parameters=params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "description": self.description,
            "validity": self.validity,
            "sources": self.sources,
            **({"extra": self.extra} if self.extra else {}),
            "parameters": {
                k: {"value": p.value, "unit": p.unit, "std": p.std, "source": p.source}
                for k, p in self.parameters.items()
            },
        }

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def parameter_set_from_dict(data: dict[str, Any], origin: str = "<dict>") -> ParameterSet:
    """Build a :class:`ParameterSet` from its YAML structure, checking every field.

    A set may name ``base: <other set>``: it then inherits every parameter, source and
    validity entry of that set and lists only what it changes or adds.
    """
    inherited: dict[str, Parameter] = {}
    base_sources: dict[str, str] = {}
    if data.get("base"):
        base = get_parameter_set(str(data["base"]))
        inherited = dict(base.parameters)
        base_sources = dict(base.sources)
        data = {**{"model": base.model, "validity": base.validity}, **data}
    try:
        params = inherited | {
            str(k): Parameter(
                value=float(v["value"]),
                unit=str(v["unit"]),
                std=float(v.get("std", 0.0)),
                source=str(v.get("source", "")),
            )
            for k, v in (data.get("parameters") or {}).items()
        }
        return ParameterSet(
            name=str(data["name"]),
            model=str(data["model"]),
            parameters=params,
            description=str(data.get("description", "")),
            sources=base_sources | {str(k): str(v) for k, v in (data.get("sources") or {}).items()},
            validity=dict(data.get("validity") or {}),
            extra=dict(data.get("extra") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{origin}: invalid parameter set ({exc!r})") from exc


def available_parameter_sets() -> list[str]:
    """Names of the parameter sets shipped with biotwin."""
    folder = resources.files("biotwin.parameters") / "data"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def get_parameter_set(name_or_path: str | Path) -> ParameterSet:
    """Load a shipped parameter set by name, or one from a YAML file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return parameter_set_from_dict(yaml.safe_load(path.read_text()), str(path))
    folder = resources.files("biotwin.parameters") / "data"
    candidate = folder / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ModelError(
            f"unknown parameter set {str(name_or_path)!r}; shipped: {available_parameter_sets()}"
        )
    return parameter_set_from_dict(yaml.safe_load(candidate.read_text()), str(name_or_path))


__all__ = [
    "Parameter",
    "ParameterSet",
    "available_parameter_sets",
    "get_parameter_set",
    "parameter_set_from_dict",
]
