"""Process models: pure kinetic laws, the environment, and the CHO model of Kotidis 2019."""

from biotwin.models.base import Model, Variable
from biotwin.models.cho import CHO_KOTIDIS2019

MODELS: dict[str, Model] = {CHO_KOTIDIS2019.name: CHO_KOTIDIS2019}


def get_model(name: str) -> Model:
    """Look a model up by name."""
    from biotwin.errors import ModelError

    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {sorted(MODELS)}") from None


__all__ = ["MODELS", "Model", "Variable", "get_model"]
