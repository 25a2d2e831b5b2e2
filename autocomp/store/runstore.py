"""SQLite run store (WAL). The search coordinator is the only writer.

Everything the search learns is appended here the moment it is known: LLM replies are
stored before they are used, candidates when they are created, evaluations when they
finish. Resume works by re-running the (deterministic) search against this store:
cached replies and stored evaluations are reused, so nothing is asked or measured twice.
State is stored as plain columns and JSON; nothing is ever eval()'d or unpickled.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autocomp.errors import UserError
from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.llm.budget import Spend
from autocomp.outputs import LlmUsage, LlmUsageRow
from autocomp.store.migrations import MIGRATIONS
from autocomp.store.runlock import RunLock, has_live_owner

DB_NAME = "run.db"


def run_stores_under(root: Path) -> list[Path]:
    """Every run store (RUN/run.db) under `root`, sorted. Folders that vanish or cannot be read
    while we look are skipped: a shared folder like /tmp has both."""
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is not a folder; give the folder that holds your runs (default: ./runs)")
    found = []
    for folder, _, files in os.walk(root, onerror=lambda _: None):
        if DB_NAME in files:
            found.append(Path(folder) / DB_NAME)
    return sorted(found)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


UNRELIABLE = "unreliable"  # EvalResult.unreliable travels in an evaluation's details_json under this key (no column needed)


def _details_with_unreliable(result: EvalResult) -> dict[str, Any]:
    return {**result.details, UNRELIABLE: result.unreliable} if result.unreliable else result.details


def _usage_row(row: sqlite3.Row) -> dict[str, int | float | None]:
    """An LlmUsageRow's fields from a row of sums (SQL's NULL sum of no rows is 0 calls, an unknown cost)."""
    return {k: (row[k] or 0) if k != "cost_usd" else row[k] for k in LlmUsageRow.model_fields}


class RunStore:
    def __init__(self, run_dir: Path, conn: sqlite3.Connection) -> None:
        self.run_dir, self._conn = run_dir, conn
        self._lock = threading.Lock()
        self._writer: RunLock | None = None  # held by the one process that may search in this folder
        # the iteration the coordinator is in; model calls recorded meanwhile are tagged with it
        self.iteration: int | None = None
        # the file suffix of the problem's kernel language (".c", ".py", ".cu"): candidates/NNNNN<suffix>,
        # best<suffix>; the search sets it from the problem
        self.code_suffix = ".c"

    # ---- opening ---------------------------------------------------------------

    @classmethod
    def _connect(cls, run_dir: Path) -> "RunStore":
        conn = sqlite3.connect(run_dir / DB_NAME, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        return cls(run_dir, conn)

    @classmethod
    def create(cls, run_dir: Path, problem: str, problem_dir: str, target: str, config: dict[str, Any]) -> "RunStore":
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where the folder should be, or no permission
            why = "a file is in the way" if isinstance(exc, (FileExistsError, NotADirectoryError)) else exc.strerror or str(exc)
            raise UserError(f"cannot create the run folder {run_dir}: {why}; choose another --run-dir") from None
        writer = RunLock(run_dir)  # before looking: a second `optimize D` at once must not pass the check below too
        if (run_dir / DB_NAME).exists():
            writer.release()
            raise UserError(f"{run_dir} already holds a run; use `autocomp resume {run_dir}` or choose another --run-dir")
        store = cls._connect(run_dir)
        store._writer = writer
        store._write(
            "INSERT INTO run (id, created, problem, problem_dir, target, config_json, status) VALUES (1, ?, ?, ?, ?, ?, 'running')",
            (_now(), problem, problem_dir, target, json.dumps(config, sort_keys=True)),
        )
        (run_dir / "candidates").mkdir(exist_ok=True)
        return store

    @classmethod
    def open(cls, run_dir: Path, writer: bool = False) -> "RunStore":
        """Open a stored run; `writer` (resume) also takes the folder's lock, refusing a second writer."""
        if not (run_dir / DB_NAME).is_file():
            raise UserError(f"{run_dir} is not a run folder (no {DB_NAME}); `autocomp runs` lists runs")
        try:
            store = cls._connect(run_dir)
            empty = store._one("SELECT 1 FROM run WHERE id = 1") is None
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{run_dir / DB_NAME} is not a readable run store ({exc}); move or delete {run_dir}") from None
        if empty:
            store.close()
            raise UserError(f"{run_dir / DB_NAME} holds no run (killed while it was being created?); delete {run_dir}")
        if writer:
            try:
                store._writer = RunLock(run_dir)
            except BaseException:
                store.close()
                raise
        return store

    def close(self) -> None:
        self._conn.close()
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self._lock:
            cur = self._conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self._conn.execute(sql, params)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return int(cur.lastrowid or 0)

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ---- run -------------------------------------------------------------------

    def run_info(self) -> dict[str, Any]:
        row = self._one("SELECT * FROM run WHERE id = 1")
        assert row is not None
        info = dict(row)
        info["config"] = json.loads(info.pop("config_json"))
        return info

    def status(self) -> str:
        """The run's state as a reader should see it: the stored one, except that a run stored as
        running whose process is gone (killed, or the machine went down: it could not record
        that) is "killed"."""
        stored = str(self.run_info()["status"])
        return "killed" if stored == "running" and not has_live_owner(self.run_dir) else stored

    def set_status(self, status: str, stop_reason: str | None = None) -> None:
        """running | finished | interrupted (Ctrl-C, SIGTERM) | failed (an error stopped it)."""
        finished = _now() if status != "running" else None
        self._write("UPDATE run SET status = ?, finished = ?, stop_reason = ? WHERE id = 1", (status, finished, stop_reason))

    def event(self, kind: str, iteration: int | None = None, **data: Any) -> None:
        self._write(
            "INSERT INTO events (iteration, kind, data_json, created) VALUES (?, ?, ?, ?)",
            (iteration, kind, json.dumps(data, sort_keys=True, default=str), _now()),
        )

    def last_check(self, kind: str, candidate_id: int) -> EvalResult | None:
        """The latest `kind` check ("final_validation", "cold_validation") of a candidate: a
        resumed run checks its answer again, and the newest measurement stands."""
        mine = [e for e in self.events(kind) if e.get("candidate_id") == candidate_id]
        return EvalResult.model_validate(mine[-1]["result"]) if mine else None

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The data of every event of `kind`, oldest first, with its iteration and time."""
        return [{**json.loads(r["data_json"]), "iteration": r["iteration"], "created": r["created"]}
                for r in self._all("SELECT * FROM events WHERE kind = ? ORDER BY id", (kind,))]

    # ---- LLM calls and the reply cache ---------------------------------------------

    def cached_reply(self, request_hash: str, sample_index: int) -> sqlite3.Row | None:
        return self._one(
            "SELECT * FROM llm_calls WHERE request_hash = ? AND sample_index = ? AND status = 'ok' ORDER BY id DESC LIMIT 1",
            (request_hash, sample_index),
        )

    def record_llm_call(self, **row: Any) -> int:
        row.setdefault("created", _now())
        row.setdefault("iteration", self.iteration)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        return self._write(f"INSERT INTO llm_calls ({cols}) VALUES ({marks})", tuple(row.values()))

    def llm_calls(self) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM llm_calls ORDER BY id")

    def spend(self, first: int, last: int) -> Spend:
        """Model calls made in iterations first..last (failed ones included: they may be billed) and
        their known cost. By iteration, so a resumed run replaying stored iterations sees the same
        numbers as the original run did at each boundary."""
        row = self._one("SELECT count(*) AS calls, coalesce(sum(cost_usd), 0) AS cost FROM llm_calls "
                        "WHERE coalesce(iteration, 0) BETWEEN ? AND ?", (first, last))
        return Spend(row["calls"], row["cost"]) if row else Spend()

    def llm_usage(self) -> LlmUsage:
        """Run totals of calls, tokens and cost, overall and per model and per phase."""
        sums = ("count(*) AS calls, sum(status != 'ok') AS failed, coalesce(sum(input_tokens), 0) AS input_tokens, "
                "coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(cached_tokens), 0) AS cached_tokens, "
                "coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens, sum(cost_usd) AS cost_usd, "
                "sum(cost_usd IS NULL AND status = 'ok') AS unpriced_calls")
        total = self._one(f"SELECT {sums} FROM llm_calls")
        by = {col: {r[col]: _usage_row(r) for r in self._all(f"SELECT {col}, {sums} FROM llm_calls GROUP BY {col} ORDER BY {col}")}
              for col in ("model", "phase")}
        return LlmUsage.model_validate({**(_usage_row(total) if total else {}), "by_model": by["model"], "by_phase": by["phase"]})

    # ---- plans and candidates --------------------------------------------------------

    def plan_by_key(self, key: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM plans WHERE key = ?", (key,))

    def add_plan(self, **row: Any) -> int:
        row.setdefault("created", _now())
        return self._write(f"INSERT INTO plans ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", tuple(row.values()))

    def replace_plan(self, plan_id: int, text: str | None, menu_item: str | None, error: str | None,
                     llm_call_id: int | None) -> None:
        """A plan asked again after its model call failed (resume): same id and position, new answer."""
        self._write("UPDATE plans SET text = ?, menu_item = ?, status = ?, error = ?, llm_call_id = ? WHERE id = ?",
                    (text, menu_item, "ok" if text is not None else "failed", error, llm_call_id, plan_id))

    def replace_candidate(self, candidate_id: int, **row: Any) -> None:
        """A candidate whose code was asked again after its model call failed (resume)."""
        self._write(f"UPDATE candidates SET {', '.join(f'{k} = ?' for k in row)} WHERE id = ?",
                    (*row.values(), candidate_id))
        if row.get("code"):
            (self.run_dir / "candidates" / f"{candidate_id:05d}{self.code_suffix}").write_text(row["code"])

    def last_llm_call_id(self) -> int:
        row = self._one("SELECT max(id) AS last FROM llm_calls")
        return int(row["last"] or 0) if row else 0

    def llm_call_statuses_since(self, call_id: int) -> list[sqlite3.Row]:
        """Status and error of every model call recorded after `call_id`, oldest first."""
        return self._all("SELECT status, error FROM llm_calls WHERE id > ? ORDER BY id", (call_id,))

    def plan_errors(self, iteration: int) -> list[str]:
        """The errors of the plans of `iteration` that failed, in order."""
        return [r["error"] for r in self._all("SELECT error FROM plans WHERE iteration = ? AND status = 'failed' ORDER BY id",
                                              (iteration,)) if r["error"]]

    def candidate_by_key(self, key: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM candidates WHERE key = ?", (key,))

    def candidate(self, candidate_id: int) -> sqlite3.Row | None:
        return self._one("SELECT * FROM candidates WHERE id = ?", (candidate_id,))

    def add_candidate(self, **row: Any) -> int:
        row.setdefault("created", _now())
        cid = self._write(
            f"INSERT INTO candidates ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", tuple(row.values())
        )
        if row.get("code"):
            (self.run_dir / "candidates" / f"{cid:05d}{self.code_suffix}").write_text(row["code"])
        return cid

    def candidates(self) -> list[sqlite3.Row]:
        return self._all(
            "SELECT c.*, e.outcome, e.score, e.latency_s, e.speedup, e.utilization, e.error AS eval_error, e.details_json "
            "FROM candidates c LEFT JOIN evaluations e ON e.code_hash = c.code_hash ORDER BY c.id"
        )

    # ---- evaluations -----------------------------------------------------------------

    def evaluation(self, code_hash: str) -> tuple[EvalResult, str] | None:
        row = self._one("SELECT * FROM evaluations WHERE code_hash = ?", (code_hash,))
        if row is None:
            return None
        details = json.loads(row["details_json"])
        result = EvalResult(
            outcome=Outcome(row["outcome"]), error=row["error"], latency_s=row["latency_s"],
            baseline_latency_s=row["baseline_latency_s"], speedup=row["speedup"],
            utilization=row["utilization"], unreliable=details.pop(UNRELIABLE, None), details=details,
        )
        return result, row["feedback"] or ""

    def add_evaluation(self, code_hash: str, result: EvalResult, feedback: str) -> None:
        score = result.score if result.correct else None
        self._write(
            "INSERT OR IGNORE INTO evaluations (code_hash, outcome, score, latency_s, baseline_latency_s, speedup, "
            "utilization, error, details_json, feedback, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (code_hash, result.outcome.value, score, result.latency_s, result.baseline_latency_s, result.speedup,
             result.utilization, result.error, json.dumps(_details_with_unreliable(result), default=str), feedback, _now()),
        )

    def duel(self, challenger_id: int, leader_id: int) -> EvalResult | None:
        row = self._one("SELECT result_json FROM duels WHERE challenger_id = ? AND leader_id = ?", (challenger_id, leader_id))
        return EvalResult.model_validate_json(row["result_json"]) if row is not None else None

    def add_duel(self, iteration: int, challenger_id: int, leader_id: int, result: EvalResult) -> None:
        self._write(
            "INSERT OR IGNORE INTO duels (iteration, challenger_id, leader_id, outcome, speedup, result_json, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (iteration, challenger_id, leader_id, result.outcome.value, result.speedup, result.model_dump_json(), _now()),
        )

    def duels(self) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM duels ORDER BY id")

    # ---- beams -----------------------------------------------------------------------

    def record_beam(self, iteration: int, candidate_ids: list[int], best_id: int, best_score: float) -> None:
        self._write(
            "INSERT OR REPLACE INTO beams (iteration, candidate_ids, best_id, best_score, created) VALUES (?, ?, ?, ?, ?)",
            (iteration, json.dumps(candidate_ids), best_id, best_score, _now()),
        )
        self._write_best_code()

    def beams(self) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM beams ORDER BY iteration")

    def record_final_pick(self, best_id: int, stopped: str) -> None:
        """The finished search's answer (its final pick, re-checked on fresh inputs, which can
        differ from the last beam's first): best.c holds its code from now on."""
        self.event("finished", stopped=stopped, best_id=best_id)
        self._write_best_code()

    def _write_best_code(self) -> None:
        """best.c holds the run's answer (`best()`): during a first search the best beam member so
        far, once a search has finished its final pick until a later one finishes, so a resume
        killed while replaying the iterations leaves best.c agreeing with `runs`."""
        answer = self.best()
        if answer is not None and answer[1]["code"]:
            (self.run_dir / f"best{self.code_suffix}").write_text(answer[1]["code"])

    def best(self) -> tuple[float, sqlite3.Row] | None:
        """(search score, candidate) of the run's answer: the final pick of its latest finished
        search, else (still running, or killed) the best beam member so far. `runs`, `bench` and
        best.c all mean this one."""
        finished = self._one("SELECT data_json FROM events WHERE kind = 'finished' ORDER BY id DESC LIMIT 1")
        if finished is not None:
            best_id = json.loads(finished["data_json"])["best_id"]
        else:
            beam = self._one("SELECT best_id FROM beams ORDER BY best_score, iteration LIMIT 1")
            if beam is None:
                return None
            best_id = beam["best_id"]
        row = self._one("SELECT c.*, e.score FROM candidates c LEFT JOIN evaluations e ON e.code_hash = c.code_hash "
                        "WHERE c.id = ?", (best_id,))
        return (row["score"], row) if row is not None and row["score"] is not None else None
