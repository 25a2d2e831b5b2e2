"""Vendor baselines, shared by the C targets: vendor libraries on the same problem, measured like our kernels.

A target's vendor module (e.g. `autocomp.targets.amx.vendor`) lists, per problem family, the
ways a vendor library solves the problem (`VendorPath`): PyTorch calls (oneDNN/MKL inside),
other Python libraries, and oneMKL through ctypes. `run_child()` runs that module as a sandboxed
child pinned to the core our kernels use, single-threaded (`OMP_NUM_THREADS=1` from the scrubbed
environment); the child prints one JSON object: every path with its median latency (preempted
calls left out, as for our kernels: autocomp.evaluation.timing) and its
relative error against the problem's reference on the same inputs, the best correct path, and
the versions. A library that is not installed, or a path it lacks, is reported unavailable with
the reason, never faked.

oneMKL is measured in its own grandchild process (`... --mkl PROBLEM_DIR`, same core, sequential
MKL) because libtorch_cpu exports a statically linked MKL whose symbols could interpose on the pip
`mkl` libraries if both were loaded into one process.

A problem may also declare its own baselines in `baselines.py` beside the reference (see
docs/problem-format.md): `def baselines(**inputs, **scalars)` returns {name: callable}, each
callable computing the outputs with numpy, torch or the target's library. They run in the same
child, are checked against the reference and timed by the same rule (`problem_paths`); a problem
folder's baselines are its own, whatever its name.

Same work: our problems give the weights plain and time any packing or reordering inside the
kernel. A vendor path that packs, transposes or reorders an input before the timed call
(`prepacked`) solves an easier problem; `best` is the fastest same-work path, `best_prepacked`
the fastest over all paths (the vendor's steady state when a weight is reused), and reports
show both.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from autocomp.evaluation import sandbox, scratch
from autocomp.evaluation.checks import Trial
from autocomp.evaluation.timing import core_lock, median_latency
from autocomp.outputs import BaselineOutput, VendorPathRow
from autocomp.problem import Problem, load_problem

TRIAL_SEED = 20261125
REL_ERR_OK = 1e-2  # a path above this relative error is reported but never chosen as the best
TORCH_HINT = "pip install 'autocomp[baselines]' (torch==2.13.0, CPU)"
MKL_HINT = "pip install 'autocomp[baselines]' (mkl==2026.2.0)"


class VendorPath(NamedTuple):
    """One way to run the problem with a vendor library."""

    name: str
    note: str
    call: Callable[[], Any]  # returns the output (tensor or array)
    prepacked: bool = False  # an input was packed/transposed/reordered before (outside) the timed call


# torch family function: (torch module, problem, logical inputs) -> paths
TorchFamily = Callable[[Any, Problem, dict[str, np.ndarray]], list[VendorPath]]
# MKL family function: (libmkl_rt handle, problem, trial) -> (paths, output buffer they write, expected output)
MklFamily = Callable[[Any, Problem, Trial], tuple[list[VendorPath], np.ndarray, np.ndarray]]


class VendorSuite(NamedTuple):
    """What one target measures: its vendor module (run as the child) and its families."""

    module: str  # e.g. "autocomp.targets.amx.vendor"; run as `python -m MODULE [--mkl] PROBLEM_DIR`
    torch_families: dict[str, TorchFamily]
    mkl_families: dict[str, MklFamily]
    mkl_names: dict[str, list[str]]  # family -> the MKL path names (reported unavailable without MKL)
    torch_library: str = "oneDNN"  # what PyTorch runs these families on, for the reports
    other_libraries: Callable[[Problem], list[VendorPathRow]] | None = None  # e.g. numpy's BLAS, in the torch child


def rel_err(out: np.ndarray, expected: np.ndarray) -> float:
    out, expected = out.astype(np.float64).reshape(expected.shape), expected.astype(np.float64)
    return float(np.linalg.norm(out - expected) / (np.linalg.norm(expected) or 1.0))


def pick_best(paths: list[VendorPathRow], prepacked: bool = False) -> VendorPathRow | None:
    """The fastest path, over every library, that ran and is correct (rel_err < REL_ERR_OK);
    paths that prepare an input outside the timed call only count with `prepacked`."""
    ok = [r for r in paths if r.available and r.latency_s is not None and r.rel_err is not None
          and r.rel_err < REL_ERR_OK and (prepacked or not r.prepacked)]
    return min(ok, key=lambda r: r.latency_s or 0.0) if ok else None


def timed(problem: Problem, library: str, path: VendorPath, output: Callable[[Any], np.ndarray],
          expected: np.ndarray) -> VendorPathRow:
    """Call the path once, check `output(its return value)` against `expected`, then time it
    (the same policy for every path of every library)."""
    try:
        err = rel_err(output(path.call()), expected)
        latency, reps, left_out = median_latency(path.call)
    except Exception as exc:  # a path this build lacks is unavailable, not fatal
        return unavailable(path.name, library, f"{type(exc).__name__}: {exc}"[:300])
    return VendorPathRow(name=path.name, library=library, note=path.note, available=True, prepacked=path.prepacked,
                         latency_s=latency, reps=reps, preempted_reps_left_out=left_out,
                         gflops=problem.spec.flops / latency / 1e9, rel_err=err)


def unavailable(name: str, library: str, reason: str) -> VendorPathRow:
    return VendorPathRow(name=name, library=library, available=False, reason=reason)


def torch_paths(problem: Problem, suite: VendorSuite) -> tuple[list[VendorPathRow], str | None]:
    """PyTorch's paths for the problem's family: (measured paths, torch version), or one
    unavailable row without torch."""
    families = suite.torch_families
    if problem.spec.family not in families:
        return [], None
    try:
        import torch
    except ImportError:
        return [unavailable("PyTorch", "PyTorch", f"PyTorch is not installed: {TORCH_HINT}")], None
    torch.set_num_threads(1)
    trial = Trial(problem, seed=TRIAL_SEED, extreme=False)
    expected = next(iter(trial.expected.values()))
    library = f"{suite.torch_library} (PyTorch {torch.__version__})"
    with torch.no_grad():
        paths = _guarded("PyTorch", library, lambda: [timed(problem, library, path, lambda out: out.float().numpy(), expected)
                                                      for path in families[problem.spec.family](torch, problem, trial.logical)])
        return paths, torch.__version__


# ---------------------------------------------------------------- oneMKL (ctypes on libmkl_rt)

# mkl_cblas.h enums
ROW_MAJOR, NO_TRANS, PACKED, B_MATRIX, FIX_OFFSET = 101, 111, 151, 162, 173
MKL_THREADING_SEQUENTIAL = 1


def find_mkl_rt() -> Path | None:
    """libmkl_rt from the installed `mkl` wheel: its file list first, then the usual lib directories."""
    try:
        import importlib.metadata as md

        for f in md.distribution("mkl").files or []:
            if Path(str(f)).name.startswith("libmkl_rt.so"):
                path = Path(md.distribution("mkl").locate_file(f)).resolve()
                if path.is_file():
                    return path
    except Exception:  # no `mkl` distribution metadata; fall back to directories
        pass
    import site
    import sysconfig

    dirs = [Path(sys.prefix) / "lib", Path(site.getuserbase()) / "lib"]
    for sp in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}:
        dirs.append(Path(sp).parents[1])  # <prefix>/lib/pythonX.Y/site-packages -> <prefix>/lib
    for d in dirs:
        hits = sorted(d.glob("libmkl_rt.so*")) if d.is_dir() else []
        if hits:
            return hits[0]
    return None


def load_mkl(lib_path: str | os.PathLike[str] | None = None) -> tuple[Any, str | None]:
    """(ctypes handle to libmkl_rt set up single-threaded and quiet, None) or (None, reason).

    `lib_path` overrides where libmkl_rt is looked for (default: `find_mkl_rt()`)."""
    path = Path(lib_path) if lib_path is not None else find_mkl_rt()
    if path is None:
        return None, f"oneMKL (libmkl_rt) is not installed: {MKL_HINT}"
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        return None, f"cannot load oneMKL from {path}: {exc}; {MKL_HINT}"
    try:  # C names: the lower-case symbols are the Fortran interface (arguments by reference)
        lib.MKL_Set_Threading_Layer(ctypes.c_int(MKL_THREADING_SEQUENTIAL))  # must precede any other MKL call
        lib.MKL_Set_Num_Threads(ctypes.c_int(1))
        lib.MKL_Set_Dynamic(ctypes.c_int(0))
        lib.MKL_Verbose(ctypes.c_int(0))
    except AttributeError as exc:
        return None, f"{path} is not oneMKL's libmkl_rt ({exc}); {MKL_HINT}"
    return lib, None


def mkl_version(lib: Any) -> str:
    """'2026.2 (build 20260915)' from MKL's version string."""
    buf = ctypes.create_string_buffer(256)
    lib.MKL_Get_Version_String(buf, ctypes.c_int(len(buf)))
    text = " ".join(buf.value.decode(errors="replace").split())
    found = re.search(r"Version (\S+?)-Product Build (\d+)", text)
    return f"{found[1]} (build {found[2]})" if found else text


def aligned(a: np.ndarray, align: int = 64) -> np.ndarray:
    """A C-contiguous copy of `a` at a 64-byte aligned address (as torch allocates)."""
    a = np.ascontiguousarray(a)
    raw = np.empty(a.nbytes + align, np.uint8)
    off = (-raw.ctypes.data) % align
    out = raw[off:off + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def gemm_shape(problem: Problem) -> tuple[int, int, int]:
    """(M, N, K) of a GEMM problem C[M][N] = A[M][K] B[K][N]."""
    m, k = problem.spec.inputs[0].shape
    return m, problem.spec.inputs[1].shape[1], k


def float_gemm_buffers(problem: Problem, trial: Trial) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aligned A and B holding the exact values (bit patterns) our kernels get, so the problem's
    reference applies unchanged, and a zeroed fp32 C."""
    m, n, _ = gemm_shape(problem)
    return aligned(trial.stored["A"]), aligned(trial.stored["B"]), aligned(np.zeros((m, n), np.float32))


def bind(lib: Any, name: str, argtypes: list[Any], restype: Any = None) -> Any:
    """The C function `name` of a ctypes library, with its signature set."""
    fn = getattr(lib, name)
    fn.argtypes, fn.restype = argtypes, restype
    return fn


def packed_b_paths(names: tuple[str, str, str], notes: tuple[str, str, str], plain: Callable[[], Any],
                   pack: Callable[[], Any], compute: Callable[[], Any], keep: Any) -> list[VendorPath]:
    """An MKL GEMM's three ways: the plain call, pack B then compute (both timed: the same work
    as ours), and compute on a B packed once outside the timed call (prepacked). `keep` holds
    the buffers the raw addresses in the calls point into, for as long as the paths live."""
    pack()  # the prepacked path's B, packed untimed
    return [VendorPath(names[0], notes[0], lambda _keep=keep: plain()),
            VendorPath(names[1], notes[1], lambda _keep=keep: (pack(), compute())),
            VendorPath(names[2], notes[2], lambda _keep=keep: compute(), prepacked=True)]


def mkl_paths(problem: Problem, suite: VendorSuite,
              lib_path: str | os.PathLike[str] | None = None) -> tuple[list[VendorPathRow], str | None]:
    """oneMKL on the problem's shape, in this process: (measured paths, MKL version).

    Call it in a process that has not loaded PyTorch (see the module docstring). Without
    libmkl_rt (or with `lib_path` pointing at something that is not it) every MKL path of
    the family is reported unavailable with the reason."""
    family = problem.spec.family
    if family not in suite.mkl_families:
        return [], None
    lib, reason = load_mkl(lib_path)
    if lib is None:
        return [unavailable(name, "oneMKL", reason or "") for name in suite.mkl_names[family]], None
    version = mkl_version(lib)
    try:
        paths, out, expected = suite.mkl_families[family](lib, problem, Trial(problem, seed=TRIAL_SEED, extreme=False))
    except Exception as exc:  # a user's problem in this family with other tensor names or shapes
        return [unavailable("oneMKL", f"oneMKL {version}", f"does not apply to this problem: {type(exc).__name__}: {exc}"[:300])], version
    results = []
    for path in paths:
        out[...] = 0
        results.append(timed(problem, f"oneMKL {version}", path, lambda _: out.copy(), expected))
    return results, version


def _mkl_in_child(problem: Problem, suite: VendorSuite) -> tuple[list[VendorPathRow], str | None]:
    """mkl_paths() in a fresh process (same core: affinity is inherited; sequential MKL)."""
    if problem.spec.family not in suite.mkl_families:
        return [], None
    env = {k: v for k, v in os.environ.items() if not k.startswith("MKL_")}  # no verbose, no ISA caps
    env.update(MKL_NUM_THREADS="1", MKL_DYNAMIC="FALSE", MKL_THREADING_LAYER="SEQUENTIAL", MKL_INTERFACE_LAYER="LP64")
    try:
        proc = subprocess.run([sys.executable, "-m", suite.module, "--mkl", str(problem.root)],  # PYTHONPATH: run_python's
                              env=env, capture_output=True, text=True, timeout=540)
        if proc.returncode != 0:
            raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        out = json.loads(proc.stdout)
        return [VendorPathRow.model_validate(p) for p in out["paths"]], out["mkl"]
    except Exception as exc:
        return [unavailable("oneMKL", "oneMKL", f"MKL benchmark failed: {type(exc).__name__}: {exc}"[:400])], None


BASELINES_FILE = "baselines.py"


def _outputs(problem: Problem, value: Any) -> np.ndarray:
    """A baseline's return value (an array or tensor, a dict or a tuple of them, as reference()
    returns) flattened in outputs order, to compare with the reference's."""
    names = [o.name for o in problem.spec.outputs]
    if not isinstance(value, dict):
        value = {names[0]: value} if len(names) == 1 else dict(zip(names, value))
    arrays = []
    for name in names:
        item = value[name]
        if hasattr(item, "detach"):  # a torch tensor
            item = item.detach().float().numpy()
        arrays.append(np.asarray(item, dtype=np.float64).ravel())
    return np.concatenate(arrays)


def problem_paths(problem: Problem) -> list[VendorPathRow]:
    """The baselines the problem folder declares in baselines.py, each checked and timed like a
    vendor path (nothing without the file). Everything `baselines()` does before returning is
    untimed: prepare only what the kernel also receives (arrays, dtypes), not the work."""
    path = problem.root / BASELINES_FILE
    if not path.is_file():
        return []
    library = f"{BASELINES_FILE} (problem folder)"
    trial = Trial(problem, seed=TRIAL_SEED, extreme=False)
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("autocomp_problem_baselines", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        calls = module.baselines(**{k: v.copy() for k, v in trial.logical.items()}, **problem.spec.scalars)
        if not isinstance(calls, dict) or not all(callable(c) for c in calls.values()):
            raise TypeError("baselines() must return {name: callable}")
    except Exception as exc:  # the author's file: say what failed, measure the rest
        return [unavailable(BASELINES_FILE, library, f"{type(exc).__name__}: {exc}"[:300])]
    expected = _outputs(problem, trial.expected)
    return [timed(problem, library, VendorPath(str(name), (call.__doc__ or "declared by the problem").strip(), call),
                  lambda out: _outputs(problem, out), expected) for name, call in calls.items()]


def _guarded(name: str, library: str, paths: Callable[[], list[VendorPathRow]]) -> list[VendorPathRow]:
    """A family's paths, or one unavailable row when they do not apply to this problem's tensors
    (a user's problem in a built-in family may name or shape them differently)."""
    try:
        return paths()
    except Exception as exc:
        return [unavailable(name, library, f"does not apply to this problem: {type(exc).__name__}: {exc}"[:300])]


def measure(problem: Problem, suite: VendorSuite) -> BaselineOutput:
    """Every vendor path of the problem's family and of its own baselines.py, the best same-work
    and the best prepacked one."""
    family = problem.spec.family
    own = problem_paths(problem)
    if family not in suite.torch_families and family not in suite.mkl_families and not own:
        return BaselineOutput(problem=problem.name, available=False,
                              reason=f"no vendor path for family {family!r} and no {BASELINES_FILE} in the problem "
                                     f"folder (see docs/problem-format.md)")
    mkl, mkl_ver = _mkl_in_child(problem, suite)  # before torch is imported here
    others = _guarded("other libraries", "numpy", lambda: suite.other_libraries(problem)) if suite.other_libraries else []
    onednn, torch_version = torch_paths(problem, suite)
    results = onednn + mkl + others + own
    best = pick_best(results)
    if best is not None:
        reason = None
    elif not any(r.available for r in results):
        reason = "; ".join(dict.fromkeys(r.reason or "" for r in results))
    else:
        reason = "no vendor path ran correctly"
    return BaselineOutput(problem=problem.name, available=best is not None, torch=torch_version, mkl=mkl_ver,
                          paths=results, best=best, best_prepacked=pick_best(results, prepacked=True), reason=reason,
                          cores=sorted(os.sched_getaffinity(0)))  # where it ran, for the record


def run_child(module: str, problem: Problem, core: int | None = None) -> BaselineOutput:
    """`python -m MODULE PROBLEM_DIR` sandboxed and pinned to the core our kernels are timed on
    (`sandbox.timing_core(core)`, so an [eval] core setting moves both), holding that core's
    machine-wide timing lock as our own timing runs do."""
    tmp = scratch.make("autocomp-vendor-")
    try:
        with core_lock(sandbox.timing_core(core)):
            limits = sandbox.Limits(timeout_s=600, cpus=(sandbox.timing_core(core),), address_space_bytes=64 << 30)
            res = sandbox.run_python(module, [str(problem.root)], tmp, limits, readable=(problem.root,))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not res.ok:
        return BaselineOutput(problem=problem.name, available=False,
                              reason=f"vendor benchmark failed: {res.stderr.strip()[-300:]}")
    return BaselineOutput.model_validate_json(res.stdout)


def main(suite: VendorSuite, argv: list[str]) -> None:
    """The child's entry point: `MODULE PROBLEM_DIR` measures everything, `MODULE --mkl PROBLEM_DIR` MKL only."""
    if argv[0] == "--mkl":
        paths, version = mkl_paths(load_problem(argv[1]), suite)
        print(json.dumps({"paths": [p.model_dump(mode="json") for p in paths], "mkl": version}))
    else:
        print(measure(load_problem(argv[0]), suite).model_dump_json())


if __name__ == "__main__":  # a target without a vendor module: only the problem's own baselines.py
    main(VendorSuite(module="autocomp.targets.vendor", torch_families={}, mkl_families={}, mkl_names={}), sys.argv[1:])
