"""The results store: one SQLite file (standard library), one row per completed cell.

Schema (``cells``; one row per cell key, written once, by the client, when the cell's future completes)::

    key           TEXT PRIMARY KEY   -- Cell.key: SHA-256 of the task name and the canonical JSON of its parameters
    sweep         TEXT               -- the configuration's name
    task          TEXT
    params        TEXT               -- the cell's parameters, canonical JSON
    result        TEXT               -- the task's result, JSON
    figures       TEXT               -- the result's "figures" (headline numbers), JSON ({} when it has none)
    code_version  TEXT               -- `git describe --always --dirty` of the worker's checkout, or the package version
    dirty         INTEGER            -- 1 when that checkout had uncommitted changes
    machine       TEXT               -- host, architecture, cores, Python and torch versions of the worker
    worker        TEXT               -- the Dask worker's address
    started       TEXT               -- UTC, ISO 8601
    finished      TEXT
    seconds       REAL               -- the cell's wall time on the worker
    cpu_seconds   REAL               -- its process CPU time on the worker

``runs`` has one row per invocation of the runner (configuration, start, end, cells run and skipped), and
``errors`` one row per cell that raised (the cell stays missing from ``cells``, so the next run retries it).

A cell's row is committed as soon as its result reaches the client: a run killed at any point loses at most the
cells still in flight, and a rerun skips every key already in ``cells``.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Cell

SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, sweep TEXT NOT NULL, task TEXT NOT NULL, params TEXT NOT NULL, result TEXT NOT NULL,
    figures TEXT NOT NULL, code_version TEXT, dirty INTEGER, machine TEXT, worker TEXT, started TEXT, finished TEXT,
    seconds REAL, cpu_seconds REAL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sweep TEXT NOT NULL, config TEXT NOT NULL, started TEXT NOT NULL,
    finished TEXT, cells_total INTEGER, cells_skipped INTEGER, cells_done INTEGER, cells_failed INTEGER,
    scheduler TEXT, workers INTEGER, client_code_version TEXT, client_machine TEXT
);
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, sweep TEXT NOT NULL, params TEXT NOT NULL,
    error TEXT NOT NULL, at TEXT NOT NULL
);
"""


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StoredCell:
    """A completed cell as the store holds it."""

    key: str
    sweep: str
    task: str
    params: dict[str, Any]
    result: dict[str, Any]
    figures: dict[str, Any]
    code_version: str
    dirty: bool
    machine: str
    worker: str
    started: str
    finished: str
    seconds: float
    cpu_seconds: float


class Store:
    """A results store at ``path`` (created with its tables when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise IsADirectoryError(f"the store {self.path} is a directory; give a file path such as results.sqlite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing (the client only) ------------------------------------------------------------------------------
    def add(self, sweep: str, cell: Cell, outcome: dict[str, Any]) -> bool:
        """Commit a completed cell (``outcome`` as :func:`~exactformer.sweep.execute.execute_cell` returns it).

        Returns False, and changes nothing, when the key is already stored (a cell is stored once).
        """
        result = outcome["result"]
        figures = result.get("figures", {}) if isinstance(result, dict) else {}
        with self._db:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cell.key, sweep, cell.task, cell.params_json, json.dumps(result, sort_keys=True),
                    json.dumps(figures, sort_keys=True), outcome["code_version"], int(outcome["dirty"]),
                    outcome["machine"], outcome["worker"], outcome["started"], outcome["finished"],
                    outcome["seconds"], outcome["cpu_seconds"],
                ),
            )
        return cursor.rowcount == 1

    def add_error(self, sweep: str, cell: Cell, error: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO errors (key, sweep, params, error, at) VALUES (?, ?, ?, ?, ?)",
                (cell.key, sweep, cell.params_json, error, utc_now()),
            )

    def start_run(self, sweep: str, config: str, total: int, skipped: int, scheduler: str, workers: int,
                  code_version: str, machine: str) -> int:
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO runs (sweep, config, started, cells_total, cells_skipped, cells_done, cells_failed, "
                "scheduler, workers, client_code_version, client_machine) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)",
                (sweep, config, utc_now(), total, skipped, scheduler, workers, code_version, machine),
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, done: int, failed: int) -> None:
        with self._db:
            self._db.execute(
                "UPDATE runs SET finished = ?, cells_done = ?, cells_failed = ? WHERE id = ?",
                (utc_now(), done, failed, run_id),
            )

    # -- reading ------------------------------------------------------------------------------------------------
    def keys(self, sweep: str | None = None) -> set[str]:
        """The keys of the completed cells (of one sweep, or all)."""
        if sweep is None:
            return {k for (k,) in self._db.execute("SELECT key FROM cells")}
        return {k for (k,) in self._db.execute("SELECT key FROM cells WHERE sweep = ?", (sweep,))}

    def cells(self, sweep: str | None = None) -> Iterator[StoredCell]:
        """The completed cells, in the order they were stored."""
        query = "SELECT * FROM cells" + (" WHERE sweep = ?" if sweep is not None else "") + " ORDER BY rowid"
        for row in self._db.execute(query, () if sweep is None else (sweep,)):
            (key, name, task, params, result, figures, version, dirty, machine, worker, started, finished,
             seconds, cpu) = row
            yield StoredCell(key, name, task, json.loads(params), json.loads(result), json.loads(figures), version,
                             bool(dirty), machine, worker, started, finished, seconds, cpu)

    def runs(self) -> list[dict[str, Any]]:
        cursor = self._db.execute("SELECT * FROM runs ORDER BY id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def errors(self) -> list[dict[str, Any]]:
        cursor = self._db.execute("SELECT * FROM errors ORDER BY id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]
