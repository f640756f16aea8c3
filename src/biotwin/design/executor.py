"""Running campaigns in independent chunks: in-process, or on a Dask cluster; resumable.

``scheduler``: ``None`` (in-process, the default), ``"local:N"`` (starts a local Dask
cluster of N single-threaded worker processes) or ``"tcp://HOST:PORT"`` (an existing
scheduler). Chunks are whole design points, so a point's statistics never depend on the
chunking; with ``cache_dir`` each finished chunk is written to disk and a rerun loads it
instead of computing it again.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from biotwin.design.campaign import Campaign, PointResults, evaluate_points
from biotwin.errors import DataError

#: Target number of batches per chunk.
CHUNK_MEMBERS = 4000


def parse_scheduler(scheduler: str | None) -> tuple[str, Any]:
    """``None`` -> ('inprocess', None); ``local:N`` -> ('local', N); ``tcp://..`` -> ('tcp', address)."""
    if scheduler in (None, "", "inprocess", "none"):
        return "inprocess", None
    assert scheduler is not None
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler[6:])
        except ValueError:
            n = 0
        if n < 1:
            raise DataError(f"--scheduler {scheduler!r}: expected local:N with N >= 1 workers")
        return "local", n
    if scheduler.startswith(("tcp://", "tls://", "inproc://")):
        return "tcp", scheduler
    raise DataError(f"--scheduler {scheduler!r}: expected local:N or tcp://HOST:PORT")


class Executor:
    """Runs :func:`evaluate_points` over chunks; use as a context manager.

    Parameters
    ----------
    scheduler : str, optional
        See the module doc.
    threads : int
        Numba threads per task (0: the default; ``local:N`` uses cores // N).
    progress : bool
        Show a progress bar on stderr.
    """

    def __init__(self, scheduler: str | None = None, threads: int = 0, progress: bool = False,
                 connect_timeout_s: float = 10.0) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.kind, self.target = parse_scheduler(scheduler)
        self.threads = threads
        self.progress = progress
        self.client: Any = None
        self._cluster: Any = None
        if self.kind == "local" and not threads:
            self.threads = max(1, (os.cpu_count() or 1) // int(self.target))

    def __enter__(self) -> Executor:
        if self.kind == "inprocess":
            return self
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover
            raise DataError("--scheduler needs dask[distributed]: pip install 'dask[distributed]'") from exc
        if self.kind == "local":
            self._cluster = LocalCluster(n_workers=int(self.target), threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(self.target, timeout=f"{self.connect_timeout_s}s")
            except OSError as exc:
                raise DataError(f"cannot reach Dask scheduler {self.target}: {exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    def warm_up(self, campaign: Campaign) -> None:
        """Compile the ensemble kernel everywhere the campaign will run (one tiny batch each)."""
        tiny = campaign.with_(n_mc=0)
        x = np.array([[f.low for f in campaign.factors]])
        if self.client is None:
            evaluate_points(tiny, x, np.zeros(1, int), self.threads)
        else:
            self.client.run(evaluate_points, tiny, x, np.zeros(1, int), self.threads)

    def run(self, campaign: Campaign, x: np.ndarray, ids: np.ndarray | None = None,
            cache_dir: str | Path | None = None, chunk_points: int | None = None) -> PointResults:
        """Statistics of every point of ``x`` (n_points, n_factors), in point order."""
        x = np.atleast_2d(np.asarray(x, float))
        n = x.shape[0]
        ids = np.arange(n) if ids is None else np.asarray(ids, int)
        size = chunk_points or max(1, CHUNK_MEMBERS // max(campaign.n_mc, 1))
        bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
        folder = None
        if cache_dir is not None:
            digest = _digest(campaign, x, ids, size)
            folder = Path(cache_dir) / "chunks" / digest
            folder.mkdir(parents=True, exist_ok=True)
        done: dict[int, PointResults] = {}
        todo = []
        for c in range(len(bounds)):
            f = folder / f"chunk_{c:05d}.npz" if folder else None
            if f is not None and f.is_file():
                done[c] = _load(f, campaign)
            else:
                todo.append(c)
        bar = _bar(len(bounds), len(done), self.progress)

        def finish(c: int, res: PointResults) -> None:
            done[c] = res
            if folder is not None:
                _save(folder / f"chunk_{c:05d}.npz", res)
            bar.update(1)

        try:
            if self.kind == "inprocess":
                for c in todo:
                    a, b = bounds[c]
                    finish(c, evaluate_points(campaign, x[a:b], ids[a:b], self.threads))
            elif todo:
                from dask.distributed import as_completed

                camp = self.client.scatter(campaign, broadcast=True, hash=False)
                futures = {}
                for c in todo:
                    a, b = bounds[c]
                    fut = self.client.submit(evaluate_points, camp, x[a:b], ids[a:b], self.threads, pure=False)
                    futures[fut] = c
                for fut in as_completed(futures):
                    finish(futures[fut], fut.result())
        finally:
            bar.close()
        return PointResults.concat([done[c] for c in range(len(bounds))])


def _digest(campaign: Campaign, x: np.ndarray, ids: np.ndarray, size: int) -> str:
    import hashlib

    h = hashlib.sha256(campaign.key().encode())
    h.update(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(ids).tobytes())
    h.update(str(size).encode())
    return h.hexdigest()[:20]


def _save(path: Path, res: PointResults) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **res.to_arrays())  # type: ignore[arg-type]
    os.replace(tmp, path)


def _load(path: Path, campaign: Campaign) -> PointResults:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return PointResults(**arrays, quantities=campaign.all_quantities, specs=tuple(str(s) for s in campaign.specs))


class _NoBar:
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def _bar(total: int, initial: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="chunk", desc="campaign", file=sys.stderr,
                mininterval=0.5, smoothing=0.1)


def timed(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """(result, seconds) of one call."""
    t0 = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - t0
