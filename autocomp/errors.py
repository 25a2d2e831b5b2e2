"""Errors a user can fix. The CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input from the user (problem folder, config, model string, run dir).

    The message must name what is wrong and what to do about it; the CLI shows
    it verbatim, without a traceback.
    """

    run_dir: str | None = None  # set when a run stopped on it: the folder `autocomp resume` continues


class ProblemError(UserError):
    """A problem folder is malformed. Message format: `FILE: field: problem; expected ...`."""

    def __init__(self, file: str, field: str, message: str) -> None:
        super().__init__(f"{file}: {field}: {message}")
        self.file, self.field = file, field


def unreadable(path: object, exc: BaseException) -> str:
    """Why a user-given file could not be read as text, for a one-line error."""
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a directory, not a file"
    if isinstance(exc, UnicodeDecodeError):
        return f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); give a text file"
    if isinstance(exc, OSError):
        return f"cannot read {path}: {exc.strerror or exc}"
    return f"cannot read {path}: {exc}"


class RunInterrupted(Exception):
    """A run stopped by Ctrl-C or SIGTERM after recording itself as interrupted; the CLI says
    how to continue it. Not a KeyboardInterrupt, so click does not swallow the run folder."""

    def __init__(self, run_dir: str) -> None:
        super().__init__(f"interrupted; the run is stored in {run_dir}: continue it with `autocomp resume {run_dir}`")
        self.run_dir = run_dir


class ModelServerDown(UserError):
    """Every model call of an iteration failed to connect: the run stops instead of spending
    its iterations on nothing (and exiting as if it had searched)."""
