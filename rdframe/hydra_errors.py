"""Hydra's complaints about a command line, retold in one line that names the key, the value
and a fix: an unknown option of a group (and the options there are), an unknown key (and the
nearest known one), an override that does not parse, several values outside a sweep.

    encoder=nope        → unknown option encoder=nope; the options of encoder are conv, …
    encoder.hiden=[1]   → unknown key 'encoder.hiden' (did you mean 'encoder.hidden'?); …
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from hydra.errors import HydraException, MissingConfigException, OverrideParseException

from rdframe.errors import one_line

GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/basic"
UNKNOWN_KEY = re.compile(r"Could not override '(?P<key>[^']+)'\.\s+To append to your config "
                         r"use \+(?P<line>.*)$", re.DOTALL)
AMBIGUOUS = re.compile(r"Ambiguous value for argument '(?P<line>[^']*)'")


def explain(error: HydraException, overrides: Sequence[str]) -> str:
    """One line for a Hydra error raised while composing the config of ``overrides``."""
    text = str(error)
    if isinstance(error, MissingConfigException) and error.options:
        return unknown_option(str(error.missing_cfg_file), list(error.options))
    if isinstance(error, OverrideParseException):
        return unreadable(error.override, text)
    if match := UNKNOWN_KEY.match(text):
        return unknown_key(match["key"], match["line"].strip(), overrides)
    if match := AMBIGUOUS.match(text):
        return several_values(match["line"])
    return one_line(error)


def unknown_option(path: str, options: list[str]) -> str:
    """``path`` is group/option, as Hydra names the config file it did not find.

    >>> unknown_option("encoder/mpl", ["conv", "iaf", "mlp"])
    "unknown option encoder=mpl (did you mean 'mlp'?); the options of encoder are conv, iaf, mlp"
    >>> unknown_option("encoder/", ["conv", "mlp"])
    'encoder= names no option; the options of encoder are conv, mlp, e.g. encoder=conv'
    """
    group, _, option = path.rpartition("/")
    listed = ", ".join(options)
    if not option:
        return (f"{group}= names no option; the options of {group} are {listed}, "
                f"e.g. {group}={options[0]}")
    return (f"unknown option {group}={option}{_guess(option, options)}; "
            f"the options of {group} are {listed}")


def unknown_key(key: str, line: str, overrides: Sequence[str]) -> str:
    """An override of a key that the composed config does not have.

    >>> unknown_key("latent_dimm", "latent_dimm=3", [])
    "unknown key 'latent_dimm' (did you mean 'latent_dim'?); to add a new key write +latent_dimm=3"
    """
    known = known_keys(overrides, key)
    absent = _first_absent(key, known)
    parent = absent.rpartition(".")[0]
    siblings = [k for k in known if k.rpartition(".")[0] == parent]
    guess = _guess(absent, siblings if parent else known)
    if parent and not siblings:
        where = f"{parent} holds one value, not keys (an object: {parent}={{_target_:…}}); "
    else:
        where = f"the keys of {parent or 'the config'} are {', '.join(_last(siblings))}; "
    return f"unknown key {key!r}{guess}; {'' if guess else where}to add a new key write +{line}"


def unreadable(override: str, message: str) -> str:
    """An override that Hydra's grammar does not parse.

    >>> unreadable("latent_dim=[", "no viable alternative at input '['")  # doctest: +ELLIPSIS
    "cannot read the override 'latent_dim=[' (no viable alternative at input '['); write key=..."
    """
    skip = ("See ", "Error parsing override")
    lines = (line for line in message.splitlines() if not line.startswith(skip))
    reason = " ".join(word for line in lines for word in line.split() if word != "^")
    return (f"cannot read the override {override!r} ({reason}); write key=value, e.g. "
            f"latent_dim=8 or encoder.hidden=[64,64] ({GRAMMAR})")


def several_values(line: str) -> str:
    """A comma-separated value outside ``rdframe sweep``."""
    return (f"{line!r} gives several values: run one job for each with `rdframe sweep`, or "
            f"write a list as key=[a,b] or a string as key='a,b'")


def known_keys(overrides: Sequence[str], skip: str) -> list[str]:
    """Every dotted key of the config composed with ``overrides`` (all but those that name
    ``skip`` or several values, which cannot compose), else of the default config."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    for usable in (_composable(overrides, skip), []):
        GlobalHydra.instance().clear()
        try:
            with initialize_config_module("rdframe.conf", version_base="1.3"):
                cfg = compose("config", overrides=usable)
        except Exception:  # a suggestion is not worth a second error
            continue
        finally:
            GlobalHydra.instance().clear()
        return list(_dotted(OmegaConf.to_container(cfg, resolve=False)))
    return []


def _composable(overrides: Iterable[str], skip: str) -> list[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, usable = OverridesParser.create(), []
    for line in overrides:
        try:
            override = parser.parse_overrides([line])[0]
        except Exception:  # a flag such as --multirun, or another bad override
            continue
        if override.key_or_group != skip and not override.is_sweep_override():
            usable.append(line)
    return usable


def _dotted(node: Any, prefix: str = "") -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{prefix}{key}"
            yield from _dotted(value, f"{prefix}{key}.")


def _first_absent(key: str, known: list[str]) -> str:
    """The shortest part of a dotted ``key`` that is not a known key (``data.nope`` of
    ``data.nope.x``)."""
    parts = key.split(".")
    prefixes = (".".join(parts[: i + 1]) for i in range(len(parts)))
    return next((p for p in prefixes if p not in known), key)


def _guess(name: str, candidates: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the candidate nearest ``name``, if one is near."""
    by_last = {c.rpartition(".")[2]: c for c in candidates}
    close = difflib.get_close_matches(name.rpartition(".")[2], list(by_last), n=1)
    return f" (did you mean {by_last[close[0]]!r}?)" if close else ""


def _last(keys: Iterable[str]) -> list[str]:
    return [k.rpartition(".")[2] for k in keys]
