"""The one line ``cryolike-convert`` prints for a configuration that is wrong: Hydra's composition errors,
omegaconf's typing errors and our rules' errors, each as ``key = value: what is allowed``."""

from __future__ import annotations

import re

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
)

from ..core.errors import ConfigError


def _first_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines()[:1])


def _omegaconf_message(exc: OmegaConfBaseException, override: str | None = None) -> str:
    key = exc.full_key or (str(exc.key) if exc.key is not None else "")
    text = (exc.msg or str(exc)).strip()
    msg = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, MissingMandatoryValue):
        return f"{key} is required but not set; give {key}=<value> on the command line"
    if isinstance(exc, ConfigKeyError | ConfigAttributeError) and exc.key is not None and "not in" in msg:
        allowed = ""
        parent = exc.parent_node
        if isinstance(parent, DictConfig):
            keys = [str(k) for k in parent.keys() if k != "hydra"]
            if keys:
                allowed = f"; valid keys: {', '.join(keys)}"
        prefix = key.rsplit(".", 1)[0] if "." in key else ""
        where = f"in {prefix}" if prefix else "at the top level"
        return f"{override or key}: no key '{exc.key}' {where}{allowed}"
    if key and ("is not Optional" in msg or "cannot be assigned None" in msg):
        return f"{key} = null: not allowed here, give a value"
    if key and _NOT_A_LIST.match(msg):
        value = (override or "").partition("=")[2]
        return (f"{key} = {value!r}: must be a list, written in brackets: {key}=[{value or '...'}] (on a shell "
                f"command line quoted: '{key}=[{value or '...'}]')")
    for pattern, rule in _OMEGACONF_RULES:
        match = pattern.match(msg)
        if match and key:
            groups = [_TYPE_NAMES.get(g, g) for g in match.groups()[1:]]
            return f"{key} = '{match.group(1)}': {rule.format(*groups)}"
    return f"{key}: {msg}" if key else msg


_TYPE_NAMES = {"Integer": "an integer", "Float": "a number", "String": "a string", "Boolean": "true or false"}
# omegaconf's validation messages, as "key = 'value': rule" like our own range errors.
_OMEGACONF_RULES = (
    (re.compile(r"Invalid value '(.*)', expected one of \[(.*)\]"), "must be one of {0}"),
    (re.compile(r"Value '(.*)' of type '.*' could not be converted to (\w+)"), "must be {0}"),
    (re.compile(r"Value '(.*)' is not a valid bool"), "must be true or false"),
)


_NOT_A_LIST = re.compile(r"Invalid value assigned: \w+ is not a ListConfig")
_AMBIGUOUS = re.compile(r"Ambiguous value for argument '([^=']+)=(.*)'")


def _ambiguous(text: str) -> str | None:
    """Hydra's "ambiguous value" (commas without -m) as one line with the three ways to write it."""
    match = _AMBIGUOUS.match(text)
    if not match:
        return None
    key, value = match.groups()
    return (f"{key}={value}: commas without brackets are a sweep. A list is written in brackets: "
            f"'{key}=[{value}]' (quoted for the shell); one text with commas is quoted: \"{key}='{value}'\"; "
            "a sweep over the values needs -m (--multirun)")


def _choices(text: str) -> list[str]:
    """The options Hydra lists (one per line, tab-indented) in a composition error message."""
    return [line.strip() for line in text.splitlines() if line.startswith("\t") and "=" not in line]


def _quoting_hint(override: str | None) -> str:
    """How to quote a value that Hydra's grammar does not take bare (non-ASCII letters, '=', spaces)."""
    key, _, value = (override or "").partition("=")
    if not value or (value.isascii() and "=" not in value and " " not in value):
        return ""
    quote = '"' if "'" in value else "'"
    shell_quote = "'" if quote == '"' else '"'
    quoted = f"{key}={quote}{value}{quote}"
    return f"; quote the value: {quoted} (on a shell command line: {shell_quote}{quoted}{shell_quote})"


def format_config_error(exc: BaseException) -> str:
    """One readable line for a configuration error (Hydra composition, omegaconf typing, our ranges).

    Names the full key, the value and what is allowed, as far as the exception tells them.
    """
    if isinstance(exc, ConfigError):
        return str(exc).removeprefix("field ")
    text = str(exc)
    if isinstance(exc, MissingConfigException):
        options = list(exc.options or []) or _choices(text)
        missing = exc.missing_cfg_file or ""
        if "/" in missing and options:
            group, choice = missing.rsplit("/", 1)
            return f"{group}={choice}: no such option; choose one of {', '.join(options)}"
        return _first_line(text)
    if isinstance(exc, OverrideParseException):
        return f"cannot parse override {exc.override!r}: {_first_line(exc.message)}{_quoting_hint(exc.override)}"
    if isinstance(exc, OmegaConfBaseException):
        return _omegaconf_message(exc)
    if isinstance(exc, ConfigCompositionException):
        ambiguous = _ambiguous(text)
        if ambiguous:
            return ambiguous
        if text.startswith("You must specify '"):
            group = text.split("'")[1]
            options = _choices(text)
            return f"{group} is required: add {group}=<{'|'.join(options) or 'OPTION'}>"
        cause = exc.__cause__
        override = None
        if text.startswith("Could not override '"):
            override = text.split("'")[1]
            for line in text.splitlines():  # "To append to your config use +key=value"
                if line.startswith("To append to your config use +"):
                    override = line.split("+", 1)[1].strip()
        elif text.startswith("Error merging override "):
            override = text.split()[3]
        if isinstance(cause, OmegaConfBaseException):
            return _omegaconf_message(cause, override)
        return _first_line(text)
    return _first_line(text) or type(exc).__name__
