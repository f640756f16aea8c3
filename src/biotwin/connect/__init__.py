"""Adapters that bring plant data in: file importers (historian, LIMS, batch exports).

Each reader turns one file into a :class:`biotwin.lake.records.Bundle`;
:mod:`biotwin.connect.imports` reads files and writes them into a lake with progress bars.
"""

from biotwin.connect.culture import culture_folders, read_culture
from biotwin.connect.historian import read_historian
from biotwin.connect.imports import (
    import_batch_files,
    import_cultures,
    import_sample_files,
    import_timeseries_files,
)
from biotwin.connect.lims import read_lims_samples
from biotwin.connect.wide import read_wide_batch

__all__ = [
    "culture_folders", "import_batch_files", "import_cultures", "import_sample_files",
    "import_timeseries_files", "read_culture", "read_historian", "read_lims_samples",
    "read_wide_batch",
]
