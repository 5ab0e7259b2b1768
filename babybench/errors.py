"""The one exception type that users see.

A :class:`BabybenchError` carries a single line that says what went wrong,
where (file, field, line) and how to fix it. The CLI prints it as
``error: <message>`` and exits with status 2; anything else is a bug and
keeps its traceback.
"""


class BabybenchError(Exception):
    """A user-facing error: bad input, missing data, unknown name."""

    def __init__(self, message: str):
        # Keep it to one line so that logs and CI output stay readable.
        super().__init__(" ".join(str(message).split()))
