"""Errors a user can fix. The CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input from the user (problem folder, config, model string, run dir).

    The message must name what is wrong and what to do about it; the CLI shows
    it verbatim, without a traceback.
    """


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
