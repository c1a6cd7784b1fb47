"""Errors that stop a run before any work is lost, each with a message that says how to fix it."""


class RDFrameError(Exception):
    """Base class: the command line prints the message alone, without a stack trace."""


class ConfigError(RDFrameError, ValueError):
    """A configuration value is out of range or inconsistent."""


class DataError(RDFrameError, ValueError):
    """A data set is missing, corrupt, or outside what the chosen decoder can model."""
