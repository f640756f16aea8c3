"""Process recipes: what the operator does (initial charge, feeds, samples, shifts).

A :class:`Recipe` holds no kinetics: initial conditions, the streams that can be added,
timed events (bolus additions, withdrawals, continuous feed rates, setpoint changes) and
the initial inputs. Read it from the shared culture folders, or from and to YAML.
"""

from biotwin.recipes.culture import recipe_from_culture
from biotwin.recipes.recipe import (
    EVENT_KINDS,
    CompiledRecipe,
    Event,
    Recipe,
    Stream,
    compile_recipe,
    load_recipe,
)

__all__ = [
    "EVENT_KINDS",
    "CompiledRecipe",
    "Event",
    "Recipe",
    "Stream",
    "compile_recipe",
    "load_recipe",
    "recipe_from_culture",
]
