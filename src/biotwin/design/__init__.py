"""In silico campaigns: designs of experiments, Monte Carlo design spaces, global
sensitivity and golden-batch recipe optimisation, in-process or on a Dask cluster.

Layers, as elsewhere in biotwin: pure functions (:mod:`~biotwin.design.designs`,
:mod:`~biotwin.design.specs`, :mod:`~biotwin.design.sensitivity`), objects that bind a recipe,
a parameter set and factors (:class:`Campaign`, :class:`RecipeTemplate`), and chains that run
a whole study (:func:`design_space`, :func:`optimize_recipe`) through an :class:`Executor`.
"""

from biotwin.design.campaign import Campaign, PointResults, evaluate_points
from biotwin.design.designs import (
    fractional_factorial,
    full_factorial,
    latin_hypercube,
    make_design,
    sobol_sequence,
)
from biotwin.design.executor import Executor, parse_scheduler
from biotwin.design.factors import Factor, RecipeTemplate, parse_factor, parse_fixed
from biotwin.design.optimize import GoldenBatch, optimize_recipe
from biotwin.design.sensitivity import SobolIndices, ishigami, ishigami_exact, sobol_indices
from biotwin.design.space import DesignSpace, design_space
from biotwin.design.specs import Spec, compute_quantities, parse_spec
from biotwin.design.uncertainty import Covariance, sample_parameters

__all__ = [
    "Campaign",
    "Covariance",
    "DesignSpace",
    "Executor",
    "Factor",
    "GoldenBatch",
    "PointResults",
    "RecipeTemplate",
    "SobolIndices",
    "Spec",
    "compute_quantities",
    "design_space",
    "evaluate_points",
    "fractional_factorial",
    "full_factorial",
    "ishigami",
    "ishigami_exact",
    "latin_hypercube",
    "make_design",
    "optimize_recipe",
    "parse_factor",
    "parse_fixed",
    "parse_scheduler",
    "parse_spec",
    "sample_parameters",
    "sobol_indices",
    "sobol_sequence",
]
