"""Campaigns of verification runs on Dask distributed, with a SQLite results store and resume (``docs/sweep.md``).

* :mod:`~exactformer.sweep.config`: the TOML grid, parsed into frozen :class:`Cell` objects with stable keys;
* :mod:`~exactformer.sweep.tasks`: what a cell runs (``check``, ``frontier``, the MLRegTest and busy-beaver corpora,
  the README's table, the PARITY / FIRST sweep and precision frontier, the log-depth matrix and connectivity);
* :mod:`~exactformer.sweep.store`: one row per completed cell (result JSON, figures, code version, machine, times);
* :mod:`~exactformer.sweep.runner`: :func:`sweep`, the Dask client that submits the cells and stores each result;
* :mod:`~exactformer.sweep.render`: the results tables, rendered from a store;
* :mod:`~exactformer.sweep.plot`: figures of the stored cells (a figure or parameter against another).
"""

from .config import Cell, SweepConfig, as_config, load_config, parse_config
from .runner import SweepSummary, sweep
from .store import Store, StoredCell
from .tasks import TASKS, Task, resolve_task
from .tasks.errors import SweepConfigError

__all__ = [
    "Cell", "SweepConfig", "SweepConfigError", "as_config", "load_config", "parse_config", "sweep", "SweepSummary",
    "Store", "StoredCell", "Task", "TASKS", "resolve_task",
]
