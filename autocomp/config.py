"""Run configuration: TOML file < AUTOCOMP_* environment < command-line flags.

One validated object (`RunConfig`) drives a run and is stored, as JSON, in the run
store, so `autocomp resume` continues with exactly the settings the run started with.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from autocomp.errors import UserError, unreadable
from autocomp.evaluation.base import EvalSettings
from autocomp.llm.base import ProviderConfig, RetryConfig
from autocomp.llm.pricing import Price


class SearchConfig(BaseModel):
    """Beam-search parameters; defaults follow the method's upstream defaults."""

    model_config = ConfigDict(extra="forbid")

    iterations: int = Field(8, ge=1)
    beam: int = Field(4, ge=1, description="beam width B")
    plans: int = Field(4, ge=1, description="plans per beam member P")
    codes: int = Field(2, ge=1, description="implementations per plan C")
    menu_keep: float = Field(0.25, gt=0, le=1, description="probability each menu item survives dropout")
    regression_slack: float = Field(0.10, ge=0, description="children may be this much slower than their parent ...")
    slack_iterations: int = Field(2, ge=0, description="... during the first this-many iterations")
    early_stop: int = Field(0, ge=0, description="stop after this many iterations without improvement (0: off)")
    skip_planning: bool = Field(False, description="one call plans and codes at once")
    confirm_leads: int = Field(2, ge=0, description="per iteration, this many children that would take the lead must first beat the leader in a duel (timed call by call in one harness run); the others wait; 0: scores alone rank")
    final_recheck: int = Field(3, ge=1, description="re-measure this many of the final beam on fresh inputs; the best mean score leads, then the survivors duel (timed call by call against the leader)")
    max_minutes: float | None = Field(None, gt=0, description="wall-clock budget of this session's search, checked at iteration boundaries")
    repair: int = Field(1, ge=0, description="a candidate that fails to compile, crashes, times out or answers wrong goes back to its code model with the failure up to this many times; 0: off")
    extend_menu: int = Field(0, ge=0, description="before the search, a planning model proposes this many extra menu items for this problem (stored with the run); 0: off")
    seed: int = 1111


class ReuseStep(BaseModel):
    """One step of a reused schedule: what a winning lineage applied, in its own words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="the problem the schedule won on")
    menu_item: str | None = None
    plan_text: str


class ReuseConfig(BaseModel):
    """`optimize --reuse RUN`: the first len(steps) iterations apply the steps of another run's
    winning schedule, one per iteration, with a small beam (exploitation); the remaining
    iterations are the ordinary search (exploration). The steps are copied in, so a resumed run
    does not need the source run."""

    model_config = ConfigDict(extra="forbid")

    steps: list[ReuseStep] = Field(default_factory=list, description="filled by --reuse; none: an ordinary run")
    beam: int = Field(2, ge=1, description="beam width during the reused steps")
    plans: int = Field(2, ge=1, description="plans per beam member during the reused steps")


class EvalConfig(EvalSettings):
    """[eval]: how kernels are checked and timed (EvalSettings, which the evaluator sees) and where
    they are evaluated (which the evaluator never sees: executors read it)."""

    executor: Literal["local", "ray"] = Field("local", description="local: a thread pool on this machine; "
                                              "ray: tasks on a Ray cluster (pip install 'autocomp[ray]')")
    address: str = Field("auto", description='the Ray cluster: "auto" (the one `ray start` runs on this machine), '
                         '"ray://HOST:10001" (Ray Client), "HOST:6379", or "local" (start a private one-node cluster)')
    resources: dict[str, float] = Field(default_factory=dict, description="Ray resources every evaluation needs "
                                        "besides the target's own (e.g. {special = 1}: only nodes started with it)")
    max_retries: int = Field(2, ge=0, description="a Ray evaluation whose worker dies is retried this many times "
                             "elsewhere, then recorded as an infrastructure failure (never as the kernel's verdict)")
    emulate: bool = Field(False, description="check kernels on the target's functional emulator or interpreter "
                          "(amx without AMX, gpu without a GPU): correctness only, never timed; local executor only")

    def evaluator_settings(self) -> EvalSettings:
        """The settings an evaluator sees (a worker node rebuilds its evaluator from these)."""
        return EvalSettings.model_validate(self.model_dump(include=set(EvalSettings.model_fields)))


class LLMConfig(BaseModel):
    """[llm]: how models are asked, reached, retried, priced and budgeted. Never holds a key."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(1.0, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    edits: bool = Field(False, description="code calls return old/new string edits applied to the parent")
    cache: bool = Field(True, description="reuse replies stored in the run for identical requests")
    max_cost: float | None = Field(None, ge=0, description="USD; stop at the iteration boundary that would exceed it")
    max_calls: int | None = Field(None, ge=0, description="stop at the iteration boundary that would exceed this")
    retry: RetryConfig = RetryConfig()
    providers: dict[str, ProviderConfig] = Field(default_factory=dict, description="[llm.providers.NAME]")
    prices: dict[str, Price] = Field(default_factory=dict, description="USD per million tokens, by model string")


class RunConfig(BaseSettings):
    """Everything a run needs besides the problem."""

    model_config = SettingsConfigDict(env_prefix="AUTOCOMP_", env_nested_delimiter="__", extra="forbid")

    # NoDecode: AUTOCOMP_MODELS=tuner,replay::x.toml is a comma list (as on the command line), not JSON
    models: Annotated[list[str], NoDecode] = Field(default_factory=list, description="plan models (and code models unless code_models)")
    code_models: Annotated[list[str] | None, NoDecode] = None
    search: SearchConfig = SearchConfig()
    llm: LLMConfig = LLMConfig()
    eval: EvalConfig = EvalConfig()
    reuse: ReuseConfig | None = None

    @field_validator("models", "code_models", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().startswith("["):  # a JSON list also works in the environment
                try:
                    return json.loads(value)
                except json.JSONDecodeError:
                    pass
            return [m.strip() for m in value.split(",") if m.strip()]
        return value

    @property
    def coders(self) -> list[str]:
        return self.code_models or self.models

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        # flags (init kwargs) beat the environment, which beats the config file
        return (init_settings, env_settings, _TomlSource(settings_cls))


_toml_data: ContextVar[dict[str, Any]] = ContextVar("autocomp_toml_data", default={})


class _TomlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field, field_name):  # pragma: no cover - __call__ is used instead
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _toml_data.get()


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# command-line flags (click parameter names) of [llm] settings -> the settings; --no-cache sets cache = false
LLM_FLAGS = {"max_cost": "max_cost", "max_llm_calls": "max_calls", "edits": "edits"}


def _has(data: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _get(data: dict[str, Any], loc: tuple[Any, ...]) -> Any:
    for part in loc:
        data = data[part]
    return data


def _source_of(loc: tuple[Any, ...], file: Path | None, data: dict[str, Any], flags: dict[str, Any]) -> str:
    """Where the offending value came from, by precedence: a flag, an AUTOCOMP_* variable, the file."""
    for n in range(len(loc), 0, -1):  # a flag sets a leaf (or a list: models.0); a variable may set a whole table
        if _has(flags, loc[:n]) and not isinstance(_get(flags, loc[:n]), dict):
            flag_of = {setting: flag for flag, setting in LLM_FLAGS.items()} | {"cache": "no_cache"}
            name = flag_of.get(str(loc[n - 1]), str(loc[n - 1]))
            return "--" + name.replace("_", "-")
    env = {k.upper() for k in os.environ}
    for n in range(len(loc), 0, -1):
        name = "AUTOCOMP_" + "__".join(str(p) for p in loc[:n]).upper()
        if name in env:
            return f"environment variable {name}"
    if file is not None and (_has(data, loc[:1]) or not flags):
        return str(file)
    return "environment/flags"


def _suggest(loc: tuple[Any, ...]) -> str:
    """' (did you mean "iterations"?)' for a misspelt key, from the fields of the table it is in."""
    model: Any = RunConfig
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        model = field.annotation if field is not None else None
        if not isinstance(model, type) or not issubclass(model, BaseModel):
            return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _setting_variables() -> dict[str, str]:
    """Every AUTOCOMP_* variable pydantic-settings reads -> the setting's dotted name."""
    names = {}
    for name, field in RunConfig.model_fields.items():
        names[f"AUTOCOMP_{name.upper()}"] = name
        for table in (field.annotation, *get_args(field.annotation)):  # a table, or an optional one
            if isinstance(table, type) and issubclass(table, BaseModel):
                for sub in table.model_fields:
                    names[f"AUTOCOMP_{name.upper()}__{sub.upper()}"] = f"{name}.{sub}"
    return names


def _check_variable_names(environ: dict[str, str]) -> None:
    """A misspelt AUTOCOMP_* variable is silently ignored by pydantic-settings, so a user's
    AUTOCOMP_BEEM=2 would run with the default beam. Refuse variables that look like a setting
    (close to a setting's variable, or ending in a setting's name) but are not one; other
    AUTOCOMP_* variables (AUTOCOMP_GEMMINI_CC, a key variable a user chose) are not ours to judge."""
    settings = _setting_variables()
    leaves: dict[str, str] = {}  # BEAM -> AUTOCOMP_SEARCH__BEAM: the first table that has it ([search] before [reuse])
    for name in settings:
        if "__" in name:
            leaves.setdefault(name.rsplit("__", 1)[-1], name)
    for variable in sorted(v for v in environ if v.upper().startswith("AUTOCOMP_")):
        upper = variable.upper()
        if upper in settings:
            continue
        close = difflib.get_close_matches(upper, list(settings), n=1, cutoff=0.85)
        leaf = difflib.get_close_matches(upper.removeprefix("AUTOCOMP_").rsplit("__", 1)[-1], list(leaves), n=1, cutoff=0.75)
        suggestion = close[0] if close else leaves[leaf[0]] if leaf else None
        if suggestion:
            hint = "; a setting inside a table takes two underscores" if "__" in suggestion and "__" not in upper else ""
            raise UserError(f"environment variable {variable} is not an autocomp setting (did you mean {suggestion}, "
                            f"which sets {settings[suggestion]}?){hint}")


def _describe(exc: ValidationError, source: str | None = None, file: Path | None = None,
              data: dict[str, Any] | None = None, flags: dict[str, Any] | None = None) -> str:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    field = ".".join(str(p) for p in loc) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden" and len(loc) == 4 and loc[:2] == ("llm", "providers") and "key" in str(loc[-1]):
        msg = ('a config never holds a key: put the key in an environment variable and name it here with '
               'api_key_env = "VARIABLE" (see README, \'Keys\')')
    elif err["type"] == "extra_forbidden":
        msg = f"unknown setting{_suggest(loc)}; check the spelling (see README, 'Configuration')"
    if source is None:
        source = _source_of(loc, file, data or {}, flags or {})
    return f"{source}: {field}: {msg}"


def load_config(file: Path | None = None, flags: dict[str, Any] | None = None, stored: dict[str, Any] | None = None,
                search: bool = True) -> RunConfig:
    """Build the run config. `stored` (a resumed run's config) replaces file and environment;
    `search=False` (`autocomp eval`, which uses only [eval]) skips the checks between search settings."""
    if stored is not None:
        return RunConfig.model_validate(stored)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = tomllib.loads(Path(file).read_text())
        except FileNotFoundError:
            raise UserError(f"config file {file} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{file}: invalid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"config file {unreadable(file, exc)}") from None
    _check_variable_names(dict(os.environ))
    token = _toml_data.set(data)
    try:
        config = RunConfig(**_deep_merge({}, flags or {}))
    except ValidationError as exc:
        raise UserError(_describe(exc, None, file, data, flags or {})) from None
    except SettingsError as exc:  # an AUTOCOMP_* variable that is not valid JSON for a table or list
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise UserError(f"environment: {exc}{cause}") from None
    finally:
        _toml_data.reset(token)
    if search:
        check_consistency(config)
    return config


def check_consistency(config: RunConfig) -> None:
    """Combinations that would silently waste work (the original tool accepted them)."""
    s = config.search
    if not config.models:
        raise UserError("no models given: pass --models (e.g. --models replay::replies.toml) or set `models` in the config file")
    if not s.skip_planning and s.plans < len(config.models):
        raise UserError(
            f"--plans {s.plans} is smaller than the {len(config.models)} plan models, so some would get no work; raise --plans"
        )
    if config.eval.emulate and config.eval.executor != "local":
        raise UserError("--emulate checks kernels on this machine's emulator; it needs the local executor (drop --executor ray)")
    if config.llm.edits and s.skip_planning:
        raise UserError("--edits applies to the separate implementation call, which --skip-planning removes; drop one")
    if s.codes < len(config.coders) and not s.skip_planning:
        raise UserError(
            f"--codes {s.codes} is smaller than the {len(config.coders)} code models, so some would get no work; raise --codes"
        )
