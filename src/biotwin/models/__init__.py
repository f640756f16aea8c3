"""Process models: pure kinetic laws, the environment, and the CHO model of Kotidis 2019."""

from biotwin.models.base import Model, Variable
from biotwin.models.bioreactor import CHO_BIOREACTOR
from biotwin.models.cho import CHO_KOTIDIS2019

MODELS: dict[str, Model] = {
    CHO_KOTIDIS2019.name: CHO_KOTIDIS2019,
    CHO_BIOREACTOR.name: CHO_BIOREACTOR,
}


def get_model(name: str) -> Model:
    """Look a model up by name."""
    from biotwin.errors import ModelError

    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {sorted(MODELS)}") from None


def convert_recipe(recipe, model):  # type: ignore[no-untyped-def]
    """A recipe written for one model, adapted to ``model`` (e.g. the bioreactor model)."""
    from biotwin.errors import ModelError

    if recipe.model == model.name:
        return recipe
    converter = model.extra.get("convert_recipe")
    if converter is None:
        raise ModelError(f"no conversion of a {recipe.model!r} recipe to model {model.name!r}")
    return converter(recipe)


__all__ = ["MODELS", "Model", "Variable", "convert_recipe", "get_model"]
