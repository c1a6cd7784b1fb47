"""The composed config, checked before anything is built: one ConfigError naming the key, the
value and a fix, instead of a stack trace minutes into a run.

:func:`check_config` checks, in this order: values left ``???`` that the user must set;
numbers out of range (``latent_dim=0``, ``optimizer.lr=-1e-3``); flags that are not true or
false; then every component group against the constructor its ``_target_`` names: keys it
does not take, values of the wrong type, required parameters left out
(:mod:`rdframe.signatures`). ``data_shape`` and ``num_classes`` stay ``???`` until the data
module is built, and values interpolating them are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from rdframe.errors import ConfigError, one_line
from rdframe.signatures import MISSING, check_node, shown

FILLED_BY_DATA = frozenset({"data_shape", "num_classes", "data_range", "data_mean"})
# Lightning is imported by the last groups only (data modules, trainer, logger, callbacks),
# so that an error in the others is reported without waiting for it.
COMPONENTS = ("encoder", "decoder", "marginal", "objective", "optimizer", "data", "trainer",
              "logger")
FLAGS = ("analytic_rate", "overwrite", "skip_nonfinite")


@dataclass(frozen=True)
class Bound:
    """``key`` must be a finite number (an int when ``whole``) at least ``low`` (above it
    when ``strict``), or null when ``nullable``; ``example`` is a good value.

    >>> Bound("optimizer.lr", 0, "1e-3", whole=False, strict=True).message(-1)
    'optimizer.lr must be a finite number > 0, got -1; e.g. optimizer.lr=1e-3'
    """

    key: str
    low: float
    example: str
    whole: bool = True
    strict: bool = False
    nullable: bool = False

    def check(self, value: Any) -> None:
        if value is MISSING or (value is None and self.nullable) or isinstance(value, dict):
            return  # a dict: an object with a _target_ (a β schedule), checked on its own
        if not self.holds(value):
            raise ConfigError(self.message(value))

    def holds(self, value: Any) -> bool:
        kind = int if self.whole else int | float
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            return False
        return value > self.low if self.strict else value >= self.low

    def message(self, value: Any) -> str:
        kind = "an int" if self.whole else "a finite number"
        relation = f"{'>' if self.strict else '>='} {self.low:g}"
        null = " or null" if self.nullable else ""
        return (f"{self.key} must be {kind} {relation}{null}, got {shown(value)}; "
                f"e.g. {self.key}={self.example}")


BOUNDS = (
    Bound("latent_dim", 1, "8"),
    Bound("iwae_samples", 1, "1000"),
    Bound("iwae_memory_gb", 0, "4", whole=False, strict=True, nullable=True),
    Bound("checkpoint_every", 1, "200"),
    Bound("seed", 0, "0"),
    Bound("data.batch_size", 1, "100"),
    Bound("data.eval_batch_size", 1, "500", nullable=True),
    Bound("data.num_workers", 0, "0"),
    Bound("trainer.max_epochs", -1, "20", nullable=True),
    Bound("optimizer.lr", 0, "1e-3", whole=False, strict=True),
    Bound("objective.beta", 0, "0.5", whole=False),
    Bound("objective.sigma", 0, "10", whole=False),
)


def check_config(cfg: DictConfig) -> None:
    """Raise one ConfigError for the first bad value of ``cfg``, before anything is built.

    >>> check_config(OmegaConf.create({"latent_dim": 0}))
    Traceback (most recent call last):
    ...
    rdframe.errors.ConfigError: latent_dim must be an int >= 1, got 0; e.g. latent_dim=8
    """
    _check_set(cfg)
    values = resolved(cfg)
    for bound in BOUNDS:
        bound.check(lookup(values, bound.key, MISSING))
    for flag in FLAGS:
        _check_flag(flag, lookup(values, flag, MISSING))
    _check_test_weights(values)
    for key, node in components(values):
        check_node(key, node)


def _check_set(cfg: DictConfig) -> None:
    """A ConfigError for a value left ``???`` that the data module does not fill in."""
    for key in unset_keys(cfg):
        if key not in FILLED_BY_DATA:
            raise ConfigError(f"{key} has no value (???); set it, e.g. {key}=VALUE")


def unset_keys(node: DictConfig | ListConfig, path: str = "") -> Iterator[str]:
    """The dotted keys whose value is ``???`` itself (not an interpolation of it).

    >>> list(unset_keys(OmegaConf.create({"a": "???", "b": "${a}", "c": {"d": "???"}})))
    ['a', 'c.d']
    """
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        if OmegaConf.is_missing(node, key):
            yield f"{path}{key}"
        elif not OmegaConf.is_interpolation(node, key):
            child = node[key]
            if isinstance(child, DictConfig | ListConfig):
                yield from unset_keys(child, f"{path}{key}.")


def _check_test_weights(values: dict[str, Any]) -> None:
    """``test_weights`` is last or best, and best needs the checkpoint callback that keeps it."""
    choice = lookup(values, "test_weights", "last")
    if choice not in ("last", "best"):
        raise ConfigError(f"test_weights must be last or best, got {shown(choice)}; "
                          f"e.g. test_weights=best")
    if choice == "best" and not lookup(values, "callbacks.checkpoint"):
        raise ConfigError("test_weights=best needs callbacks.checkpoint, which keeps the best "
                          "weights by val/selection; keep it, or set test_weights=last")


def _check_flag(key: str, value: Any) -> None:
    if value is not MISSING and value is not None and not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {shown(value)}; e.g. {key}=true")


def resolved(node: DictConfig | ListConfig, path: str = "") -> Any:
    """``node`` as plain dicts and lists with every interpolation resolved; :data:`MISSING`
    for ``???`` and for what interpolates it (``encoder.input_shape: ${data_shape}``).

    >>> resolved(OmegaConf.create({"a": "???", "b": "${a}", "c": ["${d}"], "d": 1}))
    {'a': ???, 'b': ???, 'c': [1], 'd': 1}
    """
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    items = {key: _item(node, key, f"{path}{key}") for key in keys}  # this level first
    for key, value in items.items():
        if isinstance(value, DictConfig | ListConfig):
            items[key] = resolved(value, f"{path}{key}.")
    return items if isinstance(node, DictConfig) else list(items.values())


def _item(node: DictConfig | ListConfig, key: Any, path: str) -> Any:
    try:
        return node[key]
    except (MissingMandatoryValue, InterpolationToMissingValueError):
        return MISSING
    except Exception as error:  # an interpolation that does not resolve: ${nope}, ${oc.env:X}
        raise ConfigError(f"{path} cannot be resolved: {one_line(error)}") from None


def lookup(values: dict[str, Any], key: str, default: Any = None) -> Any:
    """The value at a dotted ``key`` of nested dicts; ``default`` where there is none.

    >>> lookup({"data": {"batch_size": 100}}, "data.batch_size"), lookup({}, "data.x")
    (100, None)
    """
    for part in key.split("."):
        if not isinstance(values, dict) or part not in values:
            return default
        values = values[part]
    return values


def components(values: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each group's node that names a ``_target_``, then each of the callbacks."""
    for key in COMPONENTS:
        if _is_target(values.get(key)):
            yield key, values[key]
    schedule = lookup(values, "scheduler.scheduler")
    if _is_target(schedule):
        yield "scheduler.scheduler", schedule
    for name, node in (values.get("callbacks") or {}).items():
        if _is_target(node):
            yield f"callbacks.{name}", node


def _is_target(node: Any) -> bool:
    return isinstance(node, dict) and "_target_" in node
