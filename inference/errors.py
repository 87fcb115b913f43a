"""The one error type a user sees.

Contract: ``DemoError`` carries a message written for a person (what went wrong with which
input, and what to do); the UI shows it as is. Code below the UI raises it for every
expected failure and chains the technical cause with ``raise ... from``.
"""


class DemoError(Exception):
    """An expected failure, with a message meant to be shown in the UI."""
