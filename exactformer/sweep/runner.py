"""The campaign runner: a configuration's cells as tasks on Dask distributed, results into the store as they finish.

By default the cells run on a ``LocalCluster`` of this machine's cores (one single-threaded worker process per
core); ``scheduler="tcp://HOST:PORT"`` sends them to an existing cluster instead (``dask scheduler`` and ``dask
worker tcp://HOST:PORT`` on the machines; workers with ``--resources GPU=1`` take the cells that ask for a GPU).

The client (this process) writes each cell to the store, one commit per cell, as its future completes. A worker
that dies mid-cell is replaced and its cell rescheduled by Dask; a client that dies loses only the cells in flight;
a rerun skips every cell whose key is in the store, so no completed cell is computed again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Cell, SweepConfig, as_config
from .execute import code_version, execute_cell, machine
from .store import Store

LOG_FORMAT = "%(asctime)s pid %(process)d %(levelname)s %(message)s"


@dataclass(frozen=True)
class SweepSummary:
    """What a run did: cells in the configuration, already stored before it, completed and failed in it."""

    name: str
    store: Path
    total: int
    skipped: int
    done: int
    failed: int
    seconds: float
    log_dir: Path | None

    @property
    def complete(self) -> bool:
        """Whether every cell of the configuration is now in the store."""
        return self.skipped + self.done == self.total

    def __str__(self) -> str:
        return (f"sweep {self.name}: {self.total} cells, {self.skipped} already stored, {self.done} run, "
                f"{self.failed} failed, {self.seconds:.1f} s; store {self.store}")


class _WorkerLog:
    """A Dask worker plugin: the worker's ``exactformer.sweep`` log lines go to ``<log_dir>/<worker name>.log``."""

    name = "exactformer-sweep-log"

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir

    def setup(self, worker: Any) -> None:
        path = Path(self.log_dir) / f"worker-{worker.name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger = logging.getLogger("exactformer.sweep")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.info("worker %s (%s) logging to %s", worker.name, worker.address, path)

    def teardown(self, worker: Any) -> None:
        logger = logging.getLogger("exactformer.sweep")
        for handler in list(logger.handlers):
            if isinstance(handler, logging.FileHandler):
                logger.removeHandler(handler)
                handler.close()


def _worker_plugin(log_dir: Path) -> Any:
    from distributed.diagnostics.plugin import WorkerPlugin

    class WorkerLog(_WorkerLog, WorkerPlugin):
        pass

    return WorkerLog(str(log_dir))


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0


def _client(scheduler: str | None, workers: int | None, cells: tuple[Cell, ...]) -> tuple[Any, Any, int]:
    """A Dask client (and the local cluster it owns, or None) and the number of workers."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        client = Client(scheduler, timeout="60s")
        return client, None, len(client.nthreads())
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise ValueError(f"workers must be at least 1, not {n}")
    needed = {name for cell in cells for name, _ in cell.resources}
    resources: dict[str, float] = {}
    if "GPU" in needed:
        if _gpu_count() < 1:
            raise RuntimeError(
                "the configuration's cells ask for a GPU and this machine has none: start GPU workers with "
                "`dask worker tcp://HOST:PORT --resources GPU=1` and pass --scheduler tcp://HOST:PORT"
            )
        resources["GPU"] = 1
    unknown = needed - set(resources)
    if unknown:
        raise RuntimeError(f"the cells ask for resources {sorted(unknown)} that a local cluster does not have; "
                           "point --scheduler at a cluster whose workers declare them")
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, resources=resources or None,
        dashboard_address=":0", silence_logs=logging.CRITICAL,
    )
    return Client(cluster), cluster, n


def _progress(enabled: bool) -> Any:
    """One bar: the campaign's name, cells done of total (stored ones included), elapsed time, ETA."""
    from rich import progress as p

    return p.Progress(p.TextColumn("[bold]{task.description}"), p.BarColumn(), p.MofNCompleteColumn(),
                      p.TextColumn("cells"), p.TimeElapsedColumn(), p.TextColumn("ETA"), p.TimeRemainingColumn(),
                      disable=not enabled)


def sweep(
    config: SweepConfig | Mapping[str, Any] | str | Path,
    *,
    store: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    log_dir: str | Path | None = None,
    progress: bool = True,
) -> SweepSummary:
    """Run every cell of a sweep configuration that the store does not hold yet, on Dask distributed.

    Parameters
    ----------
    config
        A TOML file's path, a configuration table (as the TOML parses) or a parsed
        :class:`~exactformer.sweep.config.SweepConfig` (format: ``docs/sweep.md``).
    store
        The SQLite results store (created when missing); default: the configuration file's path with ``.sqlite``.
    scheduler
        ``tcp://HOST:PORT`` of a running Dask scheduler; default: a local cluster started (and closed) here.
    workers
        Worker processes of the local cluster (one thread each); default: this machine's cores.
    log_dir
        Where each worker writes ``worker-<name>.log``; default: ``<store stem>.logs`` next to the store.
    progress
        Show one progress bar (cells done of total, elapsed, ETA).

    Returns
    -------
    SweepSummary
        Cells in the configuration, already stored, run and failed now (a failed cell's error is in the store's
        ``errors`` table and the cell is retried by the next run).
    """
    t0 = time.perf_counter()
    cfg = as_config(config)
    if store is None:
        if not isinstance(config, (str, Path)):
            raise ValueError("give store=PATH: a configuration that is not a file has no default store")
        store = Path(config).with_suffix(".sqlite")
    store_path = Path(store)
    logs = Path(log_dir) if log_dir is not None else store_path.with_name(store_path.stem + ".logs")
    with Store(store_path) as db:
        stored = db.keys()
        todo = [cell for cell in cfg.cells if cell.key not in stored]
        skipped = len(cfg.cells) - len(todo)
        if not todo:
            return SweepSummary(cfg.name, store_path, len(cfg.cells), skipped, 0, 0, time.perf_counter() - t0, None)
        client, cluster, n_workers = _client(scheduler, workers, cfg.cells)
        version, _ = code_version()
        run_id = db.start_run(cfg.name, cfg.source, len(cfg.cells), skipped, scheduler or f"local, {n_workers}",
                              n_workers, version, machine())
        done = failed = 0
        try:
            done, failed = _run(client, db, cfg, todo, logs, skipped, progress)
        finally:
            db.finish_run(run_id, done, failed)
            client.close()
            if cluster is not None:
                cluster.close()
    return SweepSummary(cfg.name, store_path, len(cfg.cells), skipped, done, failed, time.perf_counter() - t0, logs)


def _run(client: Any, db: Store, cfg: SweepConfig, todo: list[Cell], logs: Path, skipped: int,
         show: bool) -> tuple[int, int]:
    from distributed import as_completed

    client.register_plugin(_worker_plugin(logs))
    by_key = {}
    futures = []
    for cell in todo:
        future = client.submit(execute_cell, cell, key=f"sweep-{cell.key}", pure=False,
                               resources=dict(cell.resources) or None)
        by_key[future.key] = cell
        futures.append(future)
    done = failed = 0
    with _progress(show) as bar:
        task = bar.add_task(cfg.name, total=len(cfg.cells), completed=skipped)
        for future in as_completed(futures):
            cell = by_key[future.key]
            try:
                outcome = future.result()
            except Exception as e:  # noqa: BLE001 - a cell's failure is recorded, the campaign goes on
                failed += 1
                db.add_error(cfg.name, cell, f"{type(e).__name__}: {e}")
                bar.console.print(f"[red]cell {cell.label()} failed: {type(e).__name__}: {e}")
            else:
                db.add(cfg.name, cell, outcome)
                done += 1
            future.release()
            bar.update(task, advance=1)
    return done, failed
