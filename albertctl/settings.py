"""One declaration per setting: a stage's config dataclass is its flags, help, defaults and ranges.

A setting is declared once, as a field of its stage's frozen config dataclass::

    max_seq_length: int = setting(512, min=5, max=512)
    '''Tokens per instance including [CLS] and two [SEP].'''

- the field's **type** and **default** are the option's type and default;
- its **docstring** (the string literal under it) is the ``--help`` text: the first sentence, with
  reST markup removed; the whole docstring is the reference in the code;
- ``setting(...)`` adds what the type cannot say: a static range (``min``/``max``, checked by
  click on the command line and by :func:`check_ranges` in the dataclass), another flag name
  (``flag="--shard-size"``), a short alias, the text shown as the default when the real one comes
  from elsewhere (``default_text="per model"``), or ``cli=False`` for a field no command exposes.

:func:`options` turns the fields into typer parameters; :func:`command` builds a typer command
function from a config class and a body that receives the parsed values, so a command file holds
only its positional arguments, its own extra flags and what it renders. The pipeline's TOML
keys are the flag names (``max-seq-length``), and docs/cli.md is generated from ``--help``, so
adding a setting is one edit: the field.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import math
import re
import textwrap
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from albertctl.errors import AlbertctlError

_MISSING = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    *,
    min: float | None = None,  # noqa: A002 - the name click and typer use
    max: float | None = None,  # noqa: A002
    above: float | None = None,
    below: float | None = None,
    flag: str | None = None,
    short: str | None = None,
    default_text: str | None = None,
    negatable: bool | None = None,
    parse: Callable[[Any], Any] | None = None,
    cli_type: Any = str,
    cli: bool = True,
) -> Any:
    """A dataclass field with the metadata :func:`options` and :func:`check_ranges` read.
    ``parse``: the flag takes a ``cli_type`` value (one string by default, ``list[str]`` for a
    repeatable flag) that this turns into the field's value (``--seeds 1,2,3``). ``above`` /
    ``below``: open bounds (``lr > 0``, ``weight_decay < 1``); with ``min``/``max`` a field can
    have one of each side."""
    if (min is not None and above is not None) or (max is not None and below is not None):
        raise TypeError("a bound is either closed (min/max) or open (above/below), not both")
    metadata = {
        "parse": parse,
        "cli_type": cli_type,
        "min": above if above is not None else min,
        "max": below if below is not None else max,
        "min_open": above is not None,
        "max_open": below is not None,
        "flag": flag,
        "short": short,
        "default_text": default_text,
        "negatable": negatable,
        "cli": cli,
    }
    if default is _MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (and its dataclass bases), by field name."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # no source (a frozen build): help falls back to the name
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, following in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


_ROLE = re.compile(r":[a-z]+:`~?(?:[\w.]+\.)?([^`]+)`")


def help_text(doc: str) -> str:
    """The ``--help`` line of a field docstring: its first sentence, reST markup removed."""
    text = " ".join(doc.split())
    text = _ROLE.sub(r"\1", text).replace("``", "")
    match = re.search(r"(?<=[.;:])\s(?=[A-Z(])", text)
    first = text[: match.start()] if match else text
    return first if first.endswith((".", ")")) else first.rstrip(";:") + "."


def flag_name(field: dataclasses.Field) -> str:
    """The long option of a field: ``metadata["flag"]`` or ``--`` + the name with dashes."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def cli_fields(cls: type, *, exclude: Iterable[str] = ()) -> list[dataclasses.Field]:
    """The fields of ``cls`` a command exposes, in declaration order."""
    skip = set(exclude)
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli", True) and f.name not in skip]


def _default(field: dataclasses.Field) -> Any:
    if field.default is not _MISSING:
        return field.default
    if field.default_factory is not _MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return _MISSING


def _resolved_types(cls: type) -> dict[str, Any]:
    module = inspect.getmodule(cls)
    return typing.get_type_hints(cls, globalns=vars(module) if module else None)


def _option_type(tp: Any) -> tuple[Any, bool]:
    """(the type typer parses, whether the field is a tuple of them): ``X | None`` -> X,
    ``tuple[X, ...]`` -> list[X], ``Literal[...]`` -> str."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _option_type(inner[0]) if len(inner) == 1 else (str, False)
    if origin is tuple:
        return list[typing.get_args(tp)[0]], True  # type: ignore[valid-type]
    if origin is typing.Literal:
        return type(typing.get_args(tp)[0]), False
    return tp, False


def _shown_default(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "none"
    return str(value)


def options(
    cls: type,
    *,
    exclude: Iterable[str] = (),
    given_only: bool = False,
    defaults: Mapping[str, Any] | None = None,
) -> list[inspect.Parameter]:
    """Typer parameters (keyword-only, named as the fields) for the settings of ``cls``.

    ``given_only``: every option defaults to None ("not given"), so the caller can merge the
    given ones over other sources (a TOML file, recipe defaults, a resumed run's settings); the
    help then names the field's default (or its ``default_text``). ``defaults`` replaces the
    field defaults a command shows and uses (a command whose default differs from the library's).
    """
    hints = _resolved_types(cls)
    docs = field_docs(cls)
    params = []
    for field in cli_fields(cls, exclude=exclude):
        meta = field.metadata
        parsed, _ = _option_type(hints[field.name])
        if meta.get("parse") is not None:
            parsed = meta.get("cli_type", str)
        default = (defaults or {}).get(field.name, _default(field))
        is_bool = parsed is bool
        long = flag_name(field)
        negatable = meta.get("negatable")
        if negatable is None:
            negatable = given_only or default is True
        names = [f"{long}/--no-{long[2:]}" if is_bool and negatable else long]
        if meta.get("short"):
            names.append(meta["short"])
        help_ = help_text(docs.get(field.name, field.name.replace("_", " ")))
        open_range = meta.get("min_open") or meta.get("max_open")
        if open_range:  # click is not told (see below): the help says it
            bounds = _bounds(meta.get("min"), meta.get("max"), meta["min_open"], meta["max_open"])
            help_ = f"{help_} Must be {bounds}."
        shown = meta.get("default_text")
        if shown is None and default is not _MISSING and default is not None:
            shown = _shown_default(default)
        spelled_out = given_only or meta.get("default_text") is not None or meta.get("parse") is not None
        if spelled_out and shown is not None:
            help_ = f"{help_} [default: {shown}]"
        option = typer.Option(
            *names,
            help=help_,
            # Open bounds are left to check_ranges: its message names the field ("lr must be > 0").
            min=None if open_range else meta.get("min"),
            max=None if open_range else meta.get("max"),
            show_default=not spelled_out and default is not None,
        )
        if meta.get("parse") is not None:  # one string on the command line, parsed by values_for
            annotation = Annotated[parsed | None, option]
            value = None
        elif given_only or default is _MISSING or default is None or isinstance(default, tuple):
            annotation: Any = Annotated[parsed | None, option]
            value = None if (given_only or default is _MISSING) else default
            if isinstance(value, tuple):
                value = list(value) if value else None
        else:
            annotation, value = Annotated[parsed, option], default
        params.append(
            inspect.Parameter(
                field.name, inspect.Parameter.KEYWORD_ONLY, default=value, annotation=annotation
            )
        )
    return params


def values_for(cls: type, given: Mapping[str, Any], *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The parsed option values that belong to ``cls``, as field values (lists -> tuples;
    None -> left out, so the field keeps its default)."""
    hints = _resolved_types(cls)
    out: dict[str, Any] = {}
    for field in cli_fields(cls, exclude=exclude):
        if field.name not in given or given[field.name] is None:
            continue
        value = given[field.name]
        _, is_tuple = _option_type(hints[field.name])
        if field.metadata.get("parse") is not None:
            out[field.name] = field.metadata["parse"](value)
        else:
            out[field.name] = tuple(value) if is_tuple else value
    return out


def command(
    body: Callable[..., None],
    *,
    params: list[inspect.Parameter],
    doc: str,
) -> Callable[..., None]:
    """A typer command function with the signature ``params`` that calls ``body(**values)``."""

    def run(**values: Any) -> None:
        body(**values)

    ordered = sorted(params, key=lambda p: p.kind)  # positional arguments first
    run.__signature__ = inspect.Signature(ordered)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in ordered}
    run.__doc__ = doc
    run.__name__ = getattr(body, "__name__", "command")
    return run


def argument(name: str, annotation: Any) -> inspect.Parameter:
    """A positional parameter (a typer Argument, or a required option) for :func:`command`."""
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)


def extra(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    """A keyword parameter that is not a config field (``--overwrite``, ``--workers``, ...)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def check_ranges(config: Any) -> None:
    """Check every field that declares ``min``/``max`` (types included): one clear error naming the
    field. Called from the config's ``__post_init__``, so the library, the CLI and the pipeline
    share the rule the command line's ranges come from."""
    hints = _resolved_types(type(config))
    for field in dataclasses.fields(config):
        low, high = field.metadata.get("min"), field.metadata.get("max")
        if low is None and high is None:
            continue
        value = getattr(config, field.name)
        parsed, _ = _option_type(hints[field.name])
        if value is None and _default(field) is None:
            continue
        numeric = (int,) if parsed is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            kind = "an integer" if parsed is int else "a number"
            raise AlbertctlError(f"{field.name} must be {kind}, got {value!r}")
        low_open, high_open = field.metadata.get("min_open"), field.metadata.get("max_open")
        below_low = low is not None and (value <= low if low_open else value < low)
        above_high = high is not None and (value >= high if high_open else value > high)
        if below_low or above_high or not math.isfinite(value):
            raise AlbertctlError(
                f"{field.name} must be {_bounds(low, high, low_open, high_open)}, got {value!r}"
            )


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """``>= 0``, ``> 0``, ``in [0, 1)``: a range as its error message writes it."""
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    if low is None:
        return f"{'<' if high_open else '<='} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def path_fields(cls: type) -> tuple[frozenset[str], frozenset[str]]:
    """(fields typed Path or Path | None, fields typed tuple[Path, ...]) of ``cls``."""
    single, many = set(), set()
    for name, tp in _resolved_types(cls).items():
        parsed, is_tuple = _option_type(tp)
        inner = typing.get_args(parsed)[0] if is_tuple else parsed
        if inner is Path:
            (many if is_tuple else single).add(name)
    return frozenset(single), frozenset(many)
