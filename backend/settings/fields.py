"""How a setting is declared: variable, parser, default, bounds, help, group, secrecy.

The declaration rides in the dataclass field's metadata, so that reading the environment,
checking bounds, masking secrets and writing the docs all go by the one declaration.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from backend.errors import ConfigError

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
Parser = Callable[[str, "Declaration"], Any]


@dataclass(frozen=True)
class Declaration:
    name: str
    help: str
    group: str
    parse: Parser
    default: Any = None
    factory: Callable[[], Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    too_large: str = ""  # what `check_consistency` says past the maximum
    secret: bool = False
    essential: bool = False
    mask: Callable[[str], str] | None = None  # hides the secret part of a value
    documented: str = ""  # the docs' default, where it depends on the machine

    def default_value(self) -> Any:
        return self.factory() if self.factory else self.default

    def read(self, environ: Mapping[str, str]) -> Any:
        """The value in `environ`, or the default where the variable is unset or blank."""
        raw = environ.get(self.name, "").strip()
        if not raw:
            return self.default_value()
        value = self.parse(raw, self)
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(
                f"{self.name}={raw!r} is too small: it must be at least {self.minimum}"
            )
        return value

    def past_maximum(self, value: Any) -> str:
        """The error for a value above the maximum, or "" for one within it."""
        if self.maximum is None or value <= self.maximum:
            return ""
        return f"{self.name}={value} {self.too_large}"

    def hidden(self, value: Any) -> Any:
        """The value as repr and `lsbert settings` may show it."""
        if self.secret:
            return "***" if value else ""
        return self.mask(value) if self.mask else value

    def documented_default(self) -> str:
        if self.documented:
            return self.documented
        shown = plain(self.default_value())
        return f"`{shown}`" if shown else "unset"


@dataclass(frozen=True)
class Group:
    """Settings shown together in the docs, in the order they are declared."""

    title: str

    def setting(
        self,
        name: str,
        default: Any,
        help: str,
        parse: Parser | None = None,
        *,
        factory: Callable[[], Any] | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        too_large: str = "",
        secret: bool = False,
        essential: bool = False,
        mask: Callable[[str], str] | None = None,
        documented: str = "",
    ) -> Any:
        """A dataclass field for `name`; the parser follows the default's type unless given."""
        declaration = Declaration(
            name=name,
            help=help,
            group=self.title,
            parse=parse or parser_for(factory() if factory else default),
            default=default,
            factory=factory,
            minimum=minimum,
            maximum=maximum,
            too_large=too_large,
            secret=secret,
            essential=essential,
            mask=mask,
            documented=documented,
        )
        metadata = {"setting": declaration}
        if factory:
            return dataclasses.field(default_factory=factory, metadata=metadata)
        return dataclasses.field(default=default, metadata=metadata)


def declarations(cls: type) -> list[tuple[str, Declaration]]:
    """(attribute, declaration) of every setting of a settings dataclass, in field order."""
    return [(f.name, f.metadata["setting"]) for f in dataclasses.fields(cls)]


def text(raw: str, declaration: Declaration) -> str:
    return raw


def path(raw: str, declaration: Declaration) -> Path:
    return Path(raw)


def flag(raw: str, declaration: Declaration) -> bool:
    value = raw.lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{declaration.name}={value!r} is not valid: use true or false")
    return value in ("true", "1", "yes")


def number(kind: type[int] | type[float]) -> Parser:
    def parse(raw: str, declaration: Declaration) -> int | float:
        try:
            return kind(raw)
        except ValueError:
            name = declaration.name
            raise ConfigError(
                f"{name}={raw!r} is not a valid {kind.__name__}: set it to a number, "
                f"e.g. {name}={declaration.default_value()}"
            ) from None

    return parse


def choice(allowed: Sequence[str], lower: bool = False) -> Parser:
    """One of `allowed` (upper case), in any case; `lower`: the value kept in lower case."""

    def parse(raw: str, declaration: Declaration) -> str:
        value = raw.upper()
        if value not in allowed:
            raise ConfigError(
                f"{declaration.name}={value!r} is not valid: use one of {', '.join(allowed)}"
            )
        return value.lower() if lower else value

    return parse


def url(raw: str, declaration: Declaration) -> str:
    value = raw.rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(
            f"{declaration.name}={value!r} is not an http(s) URL: write it like "
            "http://localhost:8080"
        )
    return value


def redis_url(raw: str, declaration: Declaration) -> str:
    if not raw.startswith(REDIS_SCHEMES):
        raise ConfigError(
            f"{declaration.name}={without_password(raw)!r} is not a Redis URL: write it like "
            "redis://localhost:6379/0"
        )
    return raw


def parser_for(default: Any) -> Parser:
    # bool before int: True is an int too
    for kind, parse in ((bool, flag), (int, number(int)), (float, number(float))):
        if isinstance(default, kind):
            return parse
    return path if isinstance(default, Path) else text


def without_password(value: str) -> str:
    """A Redis URL with its password, in the user part or the query, replaced by ***."""
    value = re.sub(r"^([a-z]+://[^:@/?#]*:)[^/?#]*@", r"\1***@", value)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", value)


def plain(value: Any) -> str:
    """A value as one writes it in the environment: 1e-4 rather than 0.0001."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value and abs(value) < 1e-3:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class DeclaredSettings:
    """Reading, bounds, repr and docs for a frozen dataclass of declared settings."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        settings = cls(**{attribute: d.read(env) for attribute, d in declarations(cls)})
        settings.check_consistency()
        return settings

    def check_consistency(self) -> None:
        for attribute, declaration in declarations(type(self)):
            error = declaration.past_maximum(getattr(self, attribute))
            if error:
                raise ConfigError(error)

    def __repr__(self) -> str:
        # secrets and the Redis password stay out of logs and tracebacks
        values = ", ".join(
            f"{attribute}={d.hidden(getattr(self, attribute))!r}"
            for attribute, d in declarations(type(self))
        )
        return f"{type(self).__name__}({values})"

    @classmethod
    def markdown_table(cls, essential_only: bool = False) -> str:
        """The settings as a Markdown table, a bold row heading each group."""
        rows = ["| variable | default | meaning |", "|---|---|---|"]
        chosen = [d for _, d in declarations(cls) if d.essential or not essential_only]
        for group in dict.fromkeys(d.group for d in chosen):
            rows.append(f"| **{group}** | | |")
            rows += [
                f"| `{d.name}` | {d.documented_default()} | {d.help} |"
                for d in chosen
                if d.group == group
            ]
        return "\n".join(rows) + "\n"

    def listing(self, essential_only: bool = False) -> str:
        """Each setting's variable, its value now and its default, one per line."""
        rows = [
            (d.name, plain(d.hidden(getattr(self, a))) or "unset", plain(d.default_value()))
            for a, d in declarations(type(self))
            if d.essential or not essential_only
        ]
        name_width = max(len(name) for name, _, _ in rows)
        value_width = max(len(value) for _, value, _ in rows)
        lines = [
            f"{name:<{name_width}}  {value:<{value_width}}  (default: {default or 'unset'})"
            for name, value, default in rows
        ]
        return "\n".join(lines) + "\n"
