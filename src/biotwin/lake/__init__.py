"""The unified data layer: a contextualised lake on DuckDB (catalog) and Parquet (time series).

Start with :class:`Lake`; importers in :mod:`biotwin.connect` turn files into
:class:`~biotwin.lake.records.Bundle` objects that :meth:`Lake.ingest` writes atomically.
"""

from biotwin.lake.lake import IngestResult, Lake, Unfolded, resample
from biotwin.lake.records import Batch, Bundle, Equipment, Recipe, Rejection, Tag

__all__ = [
    "Batch", "Bundle", "Equipment", "IngestResult", "Lake", "Recipe", "Rejection", "Tag",
    "Unfolded", "resample",
]
