"""Build the Gemmini emulator runtime for one configuration.

A configuration (``configs/<name>.toml``) fixes DIM, the element/accumulator types and the
memory sizes. From it we generate ``gemmini_params.h`` (the types and sizes candidate code
sees through ``gemmini.h``) and, from ``timing.toml``, ``gemu_timing_params.h`` (the timing
model's constants). The emulator sources are compiled once per (sources, config, timing
parameters, flags) and cached under ``~/.cache/autocomp/gemmini/<hash>/``; a build is written
to a temporary directory and renamed into place, so concurrent identical calls are safe and
reuse one another's work.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

from autocomp.errors import UserError
from autocomp.targets.peak import machine_key

HERE = Path(__file__).parent
CONFIG_DIR = HERE / "configs"
EMULATOR_DIR = HERE / "emulator"
INCLUDE_SRC = EMULATOR_DIR / "include"
TIMING_TOML = HERE / "timing.toml"

CC = os.environ.get("AUTOCOMP_GEMMINI_CC", "gcc")
BASE_CFLAGS: tuple[str, ...] = ("-O2", "-fPIC", "-std=gnu11", "-march=native", "-g0")
COVERAGE_FLAG = "-fsanitize-coverage=trace-pc"

ELEM_TYPES = {"i8": "int8_t", "f32": "float"}
ACC_TYPES = {"i32": "int32_t", "f32": "float"}
ELEM_BYTES = {"i8": 1, "f32": 4}
ACC_BYTES = {"i32": 4, "f32": 4}


class ConfigError(UserError):
    """A configuration file is missing, malformed or inconsistent; the message names the
    file and the field (the CLI prints it as a one-line error)."""


@dataclass(frozen=True)
class GemminiConfig:
    """One Gemmini configuration (docs/gemmini-spec.md §1): array size, types, memory geometry, DMA limits."""

    name: str
    dim: int
    elem: str  # "i8" | "f32"
    acc: str  # "i32" | "f32"
    spad_rows: int
    spad_banks: int
    acc_rows: int
    acc_banks: int
    max_bytes: int
    mvin_spad_max_cols: int
    mvin_acc_max_cols: int
    mvout_spad_max_cols: int
    mvout_acc_max_cols: int

    @classmethod
    def load(cls, name: str) -> "GemminiConfig":
        """Load ``configs/<name>.toml`` and validate it."""
        path = CONFIG_DIR / f"{name}.toml"
        if not path.is_file():
            known = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
            raise ConfigError(f"{path}: no such Gemmini configuration; known: {', '.join(known)}")
        return cls.from_file(path)

    @classmethod
    def from_file(cls, path: Path) -> "GemminiConfig":
        """Parse and validate a configuration file (any path; used by load and by tests)."""
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(names)}")
        missing = [n for n in names if n not in data]
        if missing:
            raise ConfigError(f"{path}: missing field(s) {', '.join(missing)}")
        for f in fields(cls):
            want = str if f.type in (str, "str") else int
            v = data[f.name]
            if not isinstance(v, want) or isinstance(v, bool):
                raise ConfigError(f"{path}: field '{f.name}' must be {want.__name__}, got {v!r}")
        cfg = cls(**data)
        cfg._validate(path)
        return cfg

    def _validate(self, path: Path) -> None:
        def bad(field: str, why: str) -> ConfigError:
            return ConfigError(f"{path}: field '{field}' = {getattr(self, field)!r}: {why}")

        if self.name != path.stem:
            raise bad("name", f"must equal the file name stem '{path.stem}'")
        if self.dim < 1 or self.dim > 64 or self.dim & (self.dim - 1):
            raise bad("dim", "must be a power of two in 1..64")
        if self.elem not in ELEM_TYPES:
            raise bad("elem", f"must be one of {sorted(ELEM_TYPES)}")
        if self.acc not in ACC_TYPES:
            raise bad("acc", f"must be one of {sorted(ACC_TYPES)}")
        if (self.elem == "f32") != (self.acc == "f32"):
            raise bad("acc", "float and integer types cannot be mixed (i8/i32 or f32/f32)")
        for f, banks in (("spad_rows", "spad_banks"), ("acc_rows", "acc_banks")):
            if getattr(self, banks) < 1:
                raise bad(banks, "must be >= 1")
            rows = getattr(self, f)
            if rows < 2 * self.dim or rows % getattr(self, banks) or rows % (2 * self.dim):
                raise bad(f, f"must be a multiple of {banks} and of 2*dim, and at least 2*dim")
            if rows >= 1 << 26:
                raise bad(f, "must fit the 26-bit row field of a local address")
        if self.max_bytes < 16 or self.max_bytes % 16:
            raise bad("max_bytes", "must be a positive multiple of 16")
        for f in ("mvin_spad_max_cols", "mvin_acc_max_cols", "mvout_spad_max_cols", "mvout_acc_max_cols"):
            v = getattr(self, f)
            if v < self.dim or v % self.dim or v > 0xFFFF:
                raise bad(f, "must be a positive multiple of dim (and fit 16 bits)")
        if self.mvout_acc_max_cols != self.dim:
            raise bad("mvout_acc_max_cols", "must equal dim (docs/gemmini-spec.md §5.5)")


@dataclass(frozen=True)
class Runtime:
    """A compiled emulator runtime: link ``objects`` into the candidate's shared object and
    compile the candidate with ``kernel_cflags``."""

    config: GemminiConfig
    include_dir: Path
    objects: tuple[Path, ...]
    kernel_cflags: tuple[str, ...]

    def program(self, out: Path, kernels: Sequence[Path] = (), hosts: Sequence[Path] = (), *,
                cflags: Sequence[str] = ("-O2",), objects: Sequence[Path] | None = None) -> Path:
        """Link a standalone executable (tests, calibration drivers): ``kernels`` are compiled like
        candidate code (gemmini.h force-included, basic blocks counted for the CPU cost), ``hosts``
        are plain C that only sees the headers; ``objects`` replaces the runtime's own objects
        (e.g. a timing.o rebuilt with other parameters). Raises with the compiler's message."""
        work = out.parent
        objs: list[str] = []
        for i, (src, flags) in enumerate([(k, self.kernel_cflags) for k in kernels] + [(h, (f"-I{self.include_dir}",)) for h in hosts]):
            obj = work / f"{out.name}.{i}.o"
            _compile(Path(src), obj, [*cflags, "-std=gnu11", *flags], what=f"compiling {src}")
            objs.append(str(obj))
        cmd = [CC, *objs, *map(str, self.objects if objects is None else objects), "-lm", "-o", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"linking {out} failed: {' '.join(cmd)}\n{r.stderr}")
        return out


# ---------------------------------------------------------------------------- headers


def params_header(cfg: GemminiConfig) -> str:
    """gemmini_params.h: the configuration's types and sizes, for kernels and the emulator."""
    is_float = cfg.elem == "f32"
    lines = [
        f"/* Generated by autocomp/targets/gemmini/build.py from configs/{cfg.name}.toml. Do not edit. */",
        "#ifndef GEMMINI_PARAMS_H",
        "#define GEMMINI_PARAMS_H",
        "#include <stdint.h>",
        "",
        f'#define GEMU_CONFIG_NAME "{cfg.name}"',
        f"#define DIM {cfg.dim}",
        f"#define BANK_NUM {cfg.spad_banks}",
        f"#define BANK_ROWS {cfg.spad_rows // cfg.spad_banks}",
        f"#define ACC_ROWS {cfg.acc_rows}",
        f"#define ACC_BANKS {cfg.acc_banks}",
        f"#define ACC_BANK_ROWS {cfg.acc_rows // cfg.acc_banks}",
        f"#define GEMU_SPAD_ROWS {cfg.spad_rows}",
        f"#define GEMU_MAX_BYTES {cfg.max_bytes}",
        f"#define GEMU_MVIN_SPAD_MAX_COLS {cfg.mvin_spad_max_cols}",
        f"#define GEMU_MVIN_ACC_MAX_COLS {cfg.mvin_acc_max_cols}",
        f"#define GEMU_MVOUT_SPAD_MAX_COLS {cfg.mvout_spad_max_cols}",
        f"#define GEMU_MVOUT_ACC_MAX_COLS {cfg.mvout_acc_max_cols}",
        f"#define GEMU_FLOAT {1 if is_float else 0}",
        "",
        f"typedef {ELEM_TYPES[cfg.elem]} elem_t;",
        f"typedef {ACC_TYPES[cfg.acc]} acc_t;",
        f"typedef {'double' if is_float else 'int64_t'} full_t;",
        "typedef float scale_t;",
        "typedef uint32_t scale_t_bits;",
        "typedef float acc_scale_t;",
        "typedef uint32_t acc_scale_t_bits;",
        "#define MVIN_SCALE_IDENTITY 1.0",
        "#define ACC_SCALE_IDENTITY 1.0",
        "#define HAS_MVIN_SCALE",
    ]
    if is_float:
        lines += [
            "#define ELEM_T_IS_FLOAT",
            "#define ACC_T_IS_FLOAT",
            "#define HAS_MVIN_ACC_SCALE",
            "#define elem_t_max 3.4028235e38f",
            "#define elem_t_min (-3.4028235e38f)",
            "#define acc_t_max 3.4028235e38f",
            "#define acc_t_min (-3.4028235e38f)",
        ]
    else:
        lines += [
            "#define elem_t_max 127",
            "#define elem_t_min (-128)",
            "#define acc_t_max 2147483647",
            "#define acc_t_min (-2147483647 - 1)",
        ]
    lines += ["", "#endif", ""]
    return "\n".join(lines)


def timing_params_header(timing_toml: Path = TIMING_TOML) -> str:
    """gemu_timing_params.h: every key of [timing] in timing.toml as GEMU_T_<KEY>."""
    out = ["/* Generated by autocomp/targets/gemmini/build.py from timing.toml. Do not edit. */",
           "#ifndef GEMU_TIMING_PARAMS_H", "#define GEMU_TIMING_PARAMS_H"]
    if timing_toml.is_file():
        try:
            table = tomllib.loads(timing_toml.read_text()).get("timing", {})
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{timing_toml}: not valid TOML: {e}") from None
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{timing_toml}: [timing] key '{key}' must be a number, got {value!r}")
            if not key.replace("_", "").isalnum():
                raise ConfigError(f"{timing_toml}: [timing] key '{key}' is not a valid C identifier part")
            out.append(f"#define GEMU_T_{key.upper()} {value!r}")
    out += ["#endif", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------- build


def _sources() -> list[Path]:
    """Every emulator source that exists (library.c and timing.c are optional while they are
    being written)."""
    return sorted(p for p in EMULATOR_DIR.rglob("*") if p.is_file() and p.suffix in (".c", ".h"))


def _compiler_id() -> str:
    try:
        return subprocess.run([CC, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError(f"cannot run the C compiler '{CC}' ({e}); install gcc or set AUTOCOMP_GEMMINI_CC") from None


def _build_key(cfg: GemminiConfig, cflags: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for p in _sources():
        h.update(str(p.relative_to(EMULATOR_DIR)).encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(params_header(cfg).encode())
    h.update(timing_params_header().encode())
    h.update(" ".join(cflags).encode())
    h.update(_compiler_id().encode())
    h.update(machine_key().encode())  # -march=native objects must not travel to another CPU via a shared home
    return h.hexdigest()[:20]


def _compile(src: Path, obj: Path, flags: list[str], what: str = "compiling the Gemmini emulator") -> None:
    cmd = [CC, *flags, "-c", str(src), "-o", str(obj)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{what} failed: {' '.join(cmd)}\n{r.stderr}")


def runtime(config: str, cache_root: Path | None = None, *, lint_error: bool = False) -> Runtime:
    """Return the compiled runtime for ``config`` (a file stem in configs/), building it once.

    ``lint_error`` compiles the emulator with -DGEMU_LINT_ERROR=1: reading a local row that was
    never written becomes an error instead of a warning.
    """
    cfg = GemminiConfig.load(config)
    cflags = BASE_CFLAGS + (("-DGEMU_LINT_ERROR=1",) if lint_error else ())
    root = Path(cache_root) if cache_root is not None else Path.home() / ".cache" / "autocomp" / "gemmini"
    final = root / f"{cfg.name}-{_build_key(cfg, cflags)}"
    if not (final / "ok").is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{cfg.name}-", dir=root))
        try:
            _build_into(tmp, cfg, cflags)
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / "ok").is_file():  # not a lost race: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    inc = final / "include"
    objs = tuple(final / n for n in ("functional.o", "timing.o", "library.o") if (final / n).is_file())
    return Runtime(
        config=cfg,
        include_dir=inc,
        objects=objs,
        kernel_cflags=(f"-I{inc}", "-include", "gemmini.h", COVERAGE_FLAG),
    )


def _build_into(out: Path, cfg: GemminiConfig, cflags: tuple[str, ...]) -> None:
    inc = out / "include"
    inc.mkdir()
    for h in INCLUDE_SRC.glob("*.h"):
        shutil.copy2(h, inc / h.name)
    if not (inc / "gemmini_lib.h").exists():  # the library is optional while it is written
        (inc / "gemmini_lib.h").write_text("/* no library calls in this build */\n")
    (inc / "gemmini_params.h").write_text(params_header(cfg))
    (inc / "gemu_timing_params.h").write_text(timing_params_header())
    flags = [*cflags, f"-I{inc}", f"-I{EMULATOR_DIR}"]
    for name, extra in (("functional", []), ("timing", []), ("library", [COVERAGE_FLAG])):
        src = EMULATOR_DIR / f"{name}.c"
        if src.is_file():
            _compile(src, out / f"{name}.o", flags + extra)
    if not (out / "functional.o").is_file():
        raise RuntimeError(f"{EMULATOR_DIR / 'functional.c'} is missing")
    (out / "ok").write_text("built\n")
