"""Generic batch data: read wide batch files, align batches of different lengths, unfold.

Works on whatever numeric columns a process has: no variable names are assumed apart
from the time column (``time_h`` by default).
"""

from biotwin.batchdata.align import (
    align_batches,
    dtw_path,
    indicator_grid,
    regrid,
    sampling_interval,
    unfold_batchwise,
    unfold_observationwise,
)
from biotwin.batchdata.io import BatchSet, read_batch, read_batches, to_frame

__all__ = [
    "BatchSet",
    "align_batches",
    "dtw_path",
    "indicator_grid",
    "read_batch",
    "read_batches",
    "regrid",
    "sampling_interval",
    "to_frame",
    "unfold_batchwise",
    "unfold_observationwise",
]
