"""biotwin: a bioprocess digital twin.

Follow the data flow in ``DESIGN.md``: models and parameter sets (``biotwin.models``,
``biotwin.parameters``), recipes (``biotwin.recipes``), simulation and ensembles
(``biotwin.simulation``), the data lake (``biotwin.lake``), then the CLI (``biotwin.cli``).
"""

__version__ = "0.1.0"
