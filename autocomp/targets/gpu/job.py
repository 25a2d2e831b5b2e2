"""What the evaluator hands its sandboxed driver: one JSON file, typed on both sides.

The parent (trusted) writes `job.json` into the scratch folder; the driver child reads it and
never takes anything else from the parent. Shapes here are the ones this evaluation uses: the
problem's real shapes on a GPU, its `[check]` shapes under Triton's interpreter.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

JOB_FILE = "job.json"
CANDIDATE_FILE = "candidate.py"  # Triton candidates; a CUDA candidate is wrapped into this file too
RIVAL_FILE = "rival.py"  # what a timed candidate is compared with (the initial code, or a duel's leader)
OUTPUTS_DIR = "outputs"  # the candidate child's outputs, one .npy per trial and output, read by the checker
UNTIMED = "checked under Triton's interpreter on small shapes; not timed"


class TensorArg(BaseModel):
    name: str
    role: Literal["input", "output"]
    dtype: str  # autocomp dtype name: f16, bf16, f32, i32, ...
    shape: list[int]
    distribution: dict[str, Any] = {}  # inputs: problem.toml's distribution table
    tolerance: dict[str, float] = {}  # outputs: rtol, atol, norm


class Job(BaseModel):
    mode: Literal["interpret", "cuda"]  # Triton's interpreter on CPU tensors, or the real GPU
    language: Literal["triton", "cuda"]
    problem_dir: str  # reference.py lives here (read-only to the children)
    entry: str
    args: list[str]  # kernel.args in call order
    tensors: list[TensorArg]
    scalars: dict[str, int]
    seeds: list[int]  # one correctness trial per seed, inputs drawn with torch generators
    # timing (GPU mode only)
    time: bool = False
    timing_seeds: list[int] = []  # input sets the timed calls cycle through (fresh data per call)
    checked_call: int = 0  # which timed call's outputs the checker verifies (the candidate cannot know)
    warmup: int = 3
    rounds: int = 10
    reps_per_round: int = 5
    min_time_s: float = 0.5
    flops: int = 0
    peak_flops: float | None = None
    compile_baseline: bool = True  # also time torch.compile(reference)
    # marks the driver's result line; the driver deletes job.json before loading candidate code,
    # so a candidate cannot learn it and print a forged result
    nonce: str = ""

    def inputs(self) -> list[TensorArg]:
        return [t for t in self.tensors if t.role == "input"]

    def outputs(self) -> list[TensorArg]:
        return [t for t in self.tensors if t.role == "output"]
