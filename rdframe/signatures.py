"""Whether a config node fits the callable its ``_target_`` names: its keys and their types.

The parameters and their types are read from the target's signature and type hints
(:func:`typing.get_type_hints`); a class that passes ``**kwargs`` on to its parent accepts the
parent's parameters too. Whatever cannot be checked simply is let through: unannotated
parameters, classes other than the builtin scalars, callables, values not known yet
(:data:`MISSING`), and nested configs with a ``_target_`` of their own, which are checked
against their own target.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import types
import typing
from collections.abc import Callable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

from rdframe.errors import ConfigError, one_line

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "???"})()
"""A value only known once the data module is built (``data_shape``: ``???`` until then)."""

HYDRA_KEYS = frozenset({"_target_", "_partial_", "_recursive_", "_convert_", "_args_"})
SEQUENCES = frozenset({list, tuple, Sequence, MutableSequence})
SCALARS: dict[Any, tuple[str, Callable[[Any], bool]]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("an int", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
}
UNIONS = (Union, types.UnionType)


@dataclass(frozen=True)
class Signature:
    """The keyword parameters of a target, their type hints, and whether it takes any other
    keyword (a ``**kwargs`` that nothing further up the class hierarchy names)."""

    owner: str
    parameters: dict[str, inspect.Parameter]
    hints: dict[str, Any]
    required: tuple[str, ...]
    open: bool


def check_node(key: str, node: dict[str, Any]) -> None:
    """A ConfigError for the first key of ``node`` that its ``_target_`` does not take, the
    first value of the wrong type, or a required parameter left out.

    >>> node = {"_target_": "rdframe.encoders.GaussianMLPEncoder", "input_shape": [1, 8, 8],
    ...         "latent_dim": 2, "hidden": "abc"}
    >>> check_node("encoder", node)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rdframe.errors.ConfigError: encoder.hidden must be a list of int, got 'abc'; e.g. ...=[256,256]
    """
    signature = signature_of(locate(key, node["_target_"]))
    for name, value in node.items():
        if name not in HYDRA_KEYS:
            _check_item(f"{key}.{name}", name, value, signature)
    if not node.get("_partial_"):
        _check_required(key, node, signature)


def locate(key: str, target: object) -> Callable:
    """The class or function that ``{key}._target_`` names; a ConfigError if there is none."""
    try:
        found = import_object(str(target))
    except Exception as error:  # an import error of any kind, raised by the user's module too
        raise ConfigError(
            f"{key}._target_={target} cannot be imported ({type(error).__name__}: "
            f"{one_line(error)}); check the module path and the name in it"
        ) from None
    if not callable(found):
        raise ConfigError(f"{key}._target_={target} is not a class or function")
    return found


def import_object(path: str) -> Any:
    """The object at a dotted path: the longest importable module, then its attributes.

    >>> import_object("collections.abc.Sequence").__name__
    'Sequence'
    """
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is None or not (name + ".").startswith(error.name + "."):
                raise  # the module exists but imports something that does not
            continue
        return functools.reduce(getattr, parts[cut:], module)
    raise ModuleNotFoundError(f"no module named {parts[0]!r}")


def signature_of(target: Callable) -> Signature:
    """The keyword parameters ``target`` accepts, following ``**kwargs`` into parent classes."""
    parameters: dict[str, inspect.Parameter] = {}
    hints: dict[str, Any] = {}
    required: tuple[str, ...] | None = None
    is_open = True
    for function in _constructors(target):
        own = _keyword_parameters(function)
        if required is None:
            required = tuple(n for n, p in own.items() if p.default is inspect.Parameter.empty)
        function_hints = _hints(function)
        for name in own:
            if name not in parameters:
                parameters[name], hints[name] = own[name], function_hints.get(name, Any)
        is_open = _takes_any_keyword(function)
        if not is_open:
            break
    owner = getattr(target, "__name__", str(target))
    return Signature(owner, parameters, hints, required or (), is_open)


def _constructors(target: Callable) -> Iterator[Callable]:
    """``target`` itself for a function; for a class, each ``__init__`` up its hierarchy."""
    if not inspect.isclass(target):
        yield target
        return
    for cls in target.__mro__:
        if "__init__" in vars(cls):
            yield vars(cls)["__init__"]


def _keyword_parameters(function: Callable) -> dict[str, inspect.Parameter]:
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature
        return {}
    if parameters and getattr(function, "__name__", "") == "__init__":
        parameters = parameters[1:]  # self
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p for p in parameters if p.kind in kinds}


def _takes_any_keyword(function: Callable) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _hints(function: Callable) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # names that do not resolve at run time: nothing to check against
        return {}


def _check_item(path: str, name: str, value: Any, signature: Signature) -> None:
    parameter = signature.parameters.get(name)
    if parameter is None and not signature.open:
        raise ConfigError(_unknown(path, name, signature))
    if isinstance(value, dict) and "_target_" in value:
        check_node(path, value)
    elif parameter is not None and not matches(value, signature.hints[name]):
        raise ConfigError(_wrong_type(path, value, signature.hints[name], parameter.default))


def _check_required(key: str, node: dict[str, Any], signature: Signature) -> None:
    for name in signature.required:
        if name not in node:
            hint = signature.hints.get(name, Any)
            example = example_of(hint) or "VALUE"
            raise ConfigError(
                f"{key}.{name} is required by {signature.owner} but not set; "
                f"e.g. +{key}.{name}={example}"
            )


def _unknown(path: str, name: str, signature: Signature) -> str:
    names = list(signature.parameters)
    close = difflib.get_close_matches(name, names, n=1)
    guess = f" (did you mean {close[0]}?)" if close else ""
    listed = ", ".join(names) if names else "none"
    return f"{path} is not a parameter of {signature.owner}{guess}; its parameters are {listed}"


def _wrong_type(path: str, value: Any, hint: Any, default: Any) -> str:
    example = override_text(default) if _is_example(default, hint) else example_of(hint)
    fix = f"; e.g. {path}={example}" if example else ""
    return f"{path} must be {describe(hint)}, got {shown(value)}{fix}"


def _is_example(default: Any, hint: Any) -> bool:
    return default not in (None, inspect.Parameter.empty) and matches(_plain(default), hint)


def _plain(value: Any) -> Any:
    """A default as a config would write it: tuples become lists."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def matches(value: Any, hint: Any) -> bool:
    """Whether a config value fits a type hint, as far as it can be told simply.

    >>> matches(3, float), matches(True, int), matches([1, 2], Sequence[int])
    (True, False, True)
    >>> matches("abc", tuple[int, ...]), matches(None, int | None), matches("b", Literal["a"])
    (False, True, False)
    """
    return _verdict(value, hint) is not False


def _verdict(value: Any, hint: Any) -> bool | None:
    """Whether ``value`` fits ``hint``; None where that cannot be told (a class, a callable)."""
    if value is MISSING or hint is Any:
        return None
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in UNIONS:
        return _union_verdict(value, args)
    if origin is Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if hint in SCALARS:
        return SCALARS[hint][1](value)
    if hint in SEQUENCES or origin in SEQUENCES:
        return _sequence_verdict(value, origin or hint, args)
    return None


def _union_verdict(value: Any, args: tuple[Any, ...]) -> bool | None:
    """A union is judged by the members a config can write (``float | Tensor``: a number);
    one of classes alone (``Path | None``) is not judged."""
    verdicts = [_verdict(value, arg) for arg in args]
    if True in verdicts:
        return True
    judged = [v for v, arg in zip(verdicts, args) if v is not None and arg is not type(None)]
    return False if judged else None


def _sequence_verdict(value: Any, origin: Any, args: tuple[Any, ...]) -> bool:
    if not isinstance(value, list):
        return False
    if origin is tuple and args and args[-1] is not Ellipsis:
        return len(value) == len(args) and all(map(matches, value, args))
    return not args or all(matches(item, args[0]) for item in value)


def describe(hint: Any) -> str:
    """A type hint in words.

    >>> describe(Sequence[int]), describe(float | None), describe(Literal["a", "b"])
    ('a list of int', 'a number or null', "one of 'a', 'b'")
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is None or hint is type(None):
        return "null"
    if origin in UNIONS:
        return _describe_union(args)
    if origin is Literal:
        return "one of " + ", ".join(override_text(arg, quote=True) for arg in args)
    if hint in SCALARS:
        return SCALARS[hint][0]
    if origin is tuple and args and args[-1] is not Ellipsis:
        return "a list [" + ", ".join(_item_name(arg) for arg in args) + "]"
    if hint in SEQUENCES or origin in SEQUENCES:
        return "a list" + (f" of {_item_name(args[0])}" if args else "")
    return getattr(hint, "__name__", str(hint))


def _describe_union(args: tuple[Any, ...]) -> str:
    """``int | str | None`` → "an int or a string or null"; literals are listed together."""
    literals = [value for arg in args if typing.get_origin(arg) is Literal
                for value in typing.get_args(arg)]
    others = [arg for arg in args if typing.get_origin(arg) is not Literal]
    words = [describe(Literal[tuple(literals)])] if literals else []
    words += [describe(arg) for arg in others if arg is not type(None)]
    words += ["null"] if type(None) in args else []
    return " or ".join(dict.fromkeys(words))


def _item_name(hint: Any) -> str:
    """The type of a list's items in a word or two: ``int`` → "int", ``float`` → "number"."""
    if typing.get_origin(hint) in UNIONS:
        return " or ".join(_item_name(arg) for arg in typing.get_args(hint))
    words = {int: "int", float: "number", str: "string", bool: "bool", type(None): "null"}
    return words.get(hint) or describe(hint)


def example_of(hint: Any) -> str | None:
    """An override value of type ``hint``, for a message's "e.g."; None if none comes to mind.

    >>> example_of(Sequence[int]), example_of(float | None), example_of(Literal["x", "y"])
    ('[64,64]', '0.5', 'x')
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in UNIONS:
        found = (example_of(arg) for arg in args if arg is not type(None))
        return next((e for e in found if e is not None), None)
    if origin is Literal:
        return override_text(args[0])
    if hint in SEQUENCES or origin in SEQUENCES:
        item = example_of(args[0]) if args and args[0] is not Ellipsis else None
        return f"[{item},{item}]" if item else None
    return {bool: "true", int: "64", float: "0.5", str: "name"}.get(hint)


def override_text(value: Any, quote: bool = False) -> str:
    """``value`` as it is written on the command line (``[256,256]``, ``true``, ``null``).

    >>> override_text((256, 256)), override_text(False), override_text(None), override_text(1e-3)
    ('[256,256]', 'false', 'null', '0.001')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_text(v, quote) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{override_text(v, quote)}" for k, v in value.items()) + "}"
    return repr(value) if quote and isinstance(value, str) else str(value)


def shown(value: Any) -> str:
    """A value as a message quotes it: strings in quotes, the rest as written in an override.

    >>> shown("abc"), shown(2.5), shown(True), shown([1, "a"])
    ("'abc'", '2.5', 'true', "[1,'a']")
    """
    return override_text(value, quote=True)
