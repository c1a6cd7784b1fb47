"""OmegaConf resolvers that rdframe's configs use, registered before Hydra composes one."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf


def either(value: Any, default: Any) -> Any:
    """``value`` unless it is null, else ``default`` (the resolver ``rdframe.either``).

    >>> either(None, "runs/new"), either("runs/old", "runs/new")
    ('runs/new', 'runs/old')
    """
    return default if value is None else value


def register_resolvers() -> None:
    """Make ``${rdframe.either:a,b}`` available to configs (again, harmlessly, if it is)."""
    OmegaConf.register_new_resolver("rdframe.either", either, replace=True)
