"""Errors that stop a run before any work is lost, each with a message that says how to fix it."""


class RDFrameError(Exception):
    """Base class: the command line prints the message alone, without a stack trace."""


class ConfigError(RDFrameError, ValueError):
    """A configuration value is out of range or inconsistent."""


class DataError(RDFrameError, ValueError):
    """A data set is missing, corrupt, or outside what the chosen decoder can model."""


def one_line(error: BaseException) -> str:
    """A multi-line message (Hydra's, for instance) folded into one line.

    >>> one_line(Exception("Could not find 'x'\\n\\nAvailable options in 'encoder':\\n\\tmlp"))
    "Could not find 'x' Available options in 'encoder': mlp"
    """
    skip = ("provider=", "full_key:", "object_type=", "Config search path")
    lines = (line.strip() for line in str(error).splitlines())
    return " ".join(line for line in lines if line and not line.startswith(skip))
