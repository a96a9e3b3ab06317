"""Errors meant for the user: one paragraph that names the file or key and says what to do.

The command line prints these without a traceback; anything else is a bug and keeps its traceback.
"""


class NcsnError(Exception):
    """Base class of every error whose message is written for the user."""


class ConfigError(NcsnError):
    """A configuration value is missing, of the wrong type or impossible."""


class DataError(NcsnError):
    """A dataset could not be obtained, or a file of it is corrupt."""


class DivergenceError(NcsnError):
    """Training produced a non-finite loss."""
