"""The one exception type for errors a user can cause."""


class UnlearnError(ValueError):
    """A user-caused error: the message says what was wrong and what to do.

    The command-line interface prints it without a traceback and exits with status 2.
    """
