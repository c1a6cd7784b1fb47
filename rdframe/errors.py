"""Errors that stop a run before any work is lost, each with a message that says how to fix it.

The class of an error decides the exit status of the ``rdframe`` command: a usage error (a bad
option, key, value or data file) exits with 2, like argparse; a run that fails on its own (a
loss that turns non-finite) exits with 1; anything else is a bug and keeps its stack trace.
"""

from __future__ import annotations

from typing import ClassVar

USAGE_EXIT = 2


class RDFrameError(Exception):
    """Base class: the command line prints the message alone, without a stack trace, and
    exits with ``exit_code`` (2 unless a subclass says otherwise)."""

    exit_code: ClassVar[int] = USAGE_EXIT


class ConfigError(RDFrameError, ValueError):
    """A configuration value is out of range or inconsistent."""


class DataError(RDFrameError, ValueError):
    """A data set is missing, corrupt, or outside what the chosen decoder can model."""


class NonFiniteError(RDFrameError):
    """Training produced a loss or weight that is not finite: a failed run, not a usage error."""

    exit_code: ClassVar[int] = 1


def one_line(error: BaseException) -> str:
    """A multi-line message (Hydra's, for instance) folded into one line.

    >>> one_line(Exception("Could not find 'x'\\n\\nAvailable options in 'encoder':\\n\\tmlp"))
    "Could not find 'x' Available options in 'encoder': mlp"
    """
    skip = ("provider=", "full_key:", "object_type=", "Config search path")
    lines = (line.strip() for line in str(error).splitlines())
    return " ".join(line for line in lines if line and not line.startswith(skip))


def reportable(error: BaseException) -> RDFrameError | None:
    """The RDFrameError to report, in one line, for ``error``; None for a bug (keep its trace).

    That is ``error`` itself or the first RDFrameError among its causes (Hydra wraps what a
    constructor raises), prefixed with the config key Hydra was instantiating; or a
    ConfigError for a config that Hydra or OmegaConf cannot compose, resolve or instantiate.

    >>> reportable(ValueError("a bug")) is None
    True
    >>> error = reportable(ConfigError("latent_dim must be >= 1, got 0"))
    >>> str(error), error.exit_code
    ('latent_dim must be >= 1, got 0', 2)
    """
    cause = _rdframe_cause(error)
    if cause is not None:
        return _named(cause, _full_key(error))
    if _is_config_error(error):
        return ConfigError(one_line(error))
    return None


def _rdframe_cause(error: BaseException | None) -> RDFrameError | None:
    while error is not None and not isinstance(error, RDFrameError):
        error = error.__cause__
    return error


def _full_key(error: BaseException) -> str | None:
    """The key Hydra names in an instantiation error ("full_key: objective.beta"), if any."""
    for line in str(error).splitlines():
        if line.strip().startswith("full_key:"):
            return line.split(":", 1)[1].strip() or None
    return None


def _named(error: RDFrameError, key: str | None) -> RDFrameError:
    """``error`` in one line, with ``key`` in front unless the message names it already."""
    message = one_line(error)
    error.args = (message if key is None or key in message else f"{key}: {message}",)
    return error


def _is_config_error(error: BaseException) -> bool:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return isinstance(error, HydraException | OmegaConfBaseException)
