"""The one exception type that reaches a user as a message."""


class DislocError(Exception):
    """An error caused by the user's input, with a message that says what to do.

    The CLI prints it as one line and exits with status 2; the GUI shows it in
    one dialog. Anything else escaping core is a bug.
    """


class Cancelled(Exception):
    """Raised inside a core job when its ``should_stop`` callable returned True."""
