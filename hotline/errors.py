"""The one exception the CLI turns into a clear message and a non-zero exit."""


class SetupError(RuntimeError):
    """Something the operator must fix; the message says what and how."""
