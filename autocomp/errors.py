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
