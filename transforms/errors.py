"""The one exception a user's input can cause; its message is shown as is, on one line."""


class InputRejected(ValueError):
    """The input cannot be a catalogue (or too much of it is broken): nothing gets written."""
