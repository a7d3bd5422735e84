"""The one error type a user sees as a plain message (no traceback)."""


class UsageError(Exception):
    """Bad input from the user: the CLI prints the message on one line and exits with 2."""
