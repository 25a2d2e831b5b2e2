"""Numbered schema migrations. Append new ones; never edit a released one.

`PRAGMA user_version` records how many have been applied.
"""

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE run (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        created TEXT NOT NULL,
        problem TEXT NOT NULL,
        problem_dir TEXT NOT NULL,
        target TEXT NOT NULL,
        config_json TEXT NOT NULL,
        status TEXT NOT NULL,
        finished TEXT
    );
    CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY,
        request_hash TEXT NOT NULL,
        sample_index INTEGER NOT NULL,
        model TEXT NOT NULL,
        phase TEXT NOT NULL,
        request_json TEXT NOT NULL,
        reply TEXT,
        status TEXT NOT NULL,           -- ok | error
        error TEXT,
        finish_reason TEXT,
        input_tokens INTEGER,
        output_tokens INTEGER,
        latency_s REAL,
        created TEXT NOT NULL
    );
    CREATE UNIQUE INDEX llm_cache ON llm_calls (request_hash, sample_index) WHERE status = 'ok';
    CREATE TABLE plans (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,       -- deterministic position in the search, for resume
        iteration INTEGER NOT NULL,
        parent_id INTEGER NOT NULL,
        model TEXT NOT NULL,
        menu_item TEXT,
        text TEXT,
        status TEXT NOT NULL,           -- ok | failed
        error TEXT,
        llm_call_id INTEGER,
        created TEXT NOT NULL
    );
    CREATE TABLE candidates (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        iteration INTEGER NOT NULL,
        parent_id INTEGER,
        plan_id INTEGER,
        menu_item TEXT,
        plan_text TEXT,
        plan_model TEXT,
        code_model TEXT,
        origin TEXT NOT NULL,           -- initial | planned | direct
        code TEXT,
        code_hash TEXT,
        error TEXT,                     -- why there is no code (LLM failure, unparseable reply)
        llm_call_id INTEGER,
        created TEXT NOT NULL
    );
    CREATE TABLE evaluations (
        id INTEGER PRIMARY KEY,
        code_hash TEXT NOT NULL UNIQUE, -- identical code is evaluated once per run
        outcome TEXT NOT NULL,
        score REAL,
        latency_s REAL,
        baseline_latency_s REAL,
        speedup REAL,
        utilization REAL,
        error TEXT,
        details_json TEXT NOT NULL,
        feedback TEXT,
        created TEXT NOT NULL
    );
    CREATE TABLE beams (
        iteration INTEGER PRIMARY KEY,
        candidate_ids TEXT NOT NULL,    -- JSON list, best first
        best_id INTEGER NOT NULL,
        best_score REAL NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        iteration INTEGER,
        kind TEXT NOT NULL,
        data_json TEXT NOT NULL,
        created TEXT NOT NULL
    );
    """,
    # 2: usage and cost per model call; the iteration a call belongs to (for budgets); the run's
    #    stop reason. The reply cache index stops being unique, so --no-cache can store a fresh
    #    reply next to an old one (the newest is used).
    """
    ALTER TABLE llm_calls ADD COLUMN cached_tokens INTEGER;
    ALTER TABLE llm_calls ADD COLUMN reasoning_tokens INTEGER;
    ALTER TABLE llm_calls ADD COLUMN cost_usd REAL;         -- NULL: no price known for the model
    ALTER TABLE llm_calls ADD COLUMN iteration INTEGER;
    ALTER TABLE run ADD COLUMN stop_reason TEXT;
    DROP INDEX llm_cache;
    CREATE INDEX llm_cache ON llm_calls (request_hash, sample_index, status);
    CREATE INDEX llm_calls_iteration ON llm_calls (iteration);
    """,
    # 3: duels: a child that would take the lead timed call by call against the leader; stored so
    #    that a resumed run ranks exactly as before without measuring again.
    """
    CREATE TABLE duels (
        id INTEGER PRIMARY KEY,
        iteration INTEGER NOT NULL,
        challenger_id INTEGER NOT NULL,
        leader_id INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        speedup REAL,                   -- how many times faster the challenger ran; NULL when the duel failed
        result_json TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (challenger_id, leader_id)
    );
    """,
]
