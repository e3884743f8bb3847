"""YAML front matter: written with a safe dumper, read with a safe loader.

Nothing in a file can construct a Python object, and any string round-trips exactly.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import yaml

try:  # libyaml is several times faster; both are safe loaders.
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


from ..errors import FormatError

_FM_OPEN = "---\n"
_FM_CLOSE_RE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, as ``intranet check`` reports it."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


# --------------------------------------------------------------------------
# Front matter


def dump_yaml(data: dict[str, Any]) -> str:
    """``data`` as block-style YAML, keys in the given order (safe dumper)."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000
    )


def dump_front_matter(data: dict[str, Any], body: str = "") -> str:
    """Return file text: ``data`` as YAML front matter, then ``body``."""
    return f"{_FM_OPEN}{yaml_lines(data)}---\n{body}"


def yaml_lines(data: dict[str, Any]) -> str:
    """:func:`dump_yaml` of ``data``, quickly for a post's front matter (:func:`block_yaml`).

    Each entry of a block mapping is written on its own lines, so the YAML of a mapping is the YAML of
    its first entries followed by the YAML of the others.
    """
    text = block_yaml(data)
    return dump_yaml(data) if text is None else text


# What libyaml's emitter takes for printable on one line (its IS_PRINTABLE, without line breaks:
# no U+0085, U+2028, U+2029; no characters beyond U+FFFF, which it writes double-quoted).
_ONE_LINE_RE = re.compile("[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*")
_INDICATOR_FIRST = frozenset("#,[]{}&*!|>'\"%@`")
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()
_LONGEST = 10_000  # longer strings go to PyYAML (a line over its width of 1,000,000 would be folded)


def yaml_scalar(value: str) -> str | None:
    """``value`` as the block-style value of a mapping, exactly as :func:`dump_yaml` writes it, or None
    where that takes more than a plain or single-quoted scalar (line breaks, control characters,
    characters beyond U+FFFF, very long strings): then PyYAML must be asked.

    A plain scalar unless libyaml's emitter would see an indicator in it (its
    ``yaml_emitter_analyze_scalar``) or the resolver would read it back as something other than a
    string (``yes``, ``3.14``, ``2019-01-01``, ``null``, empty); otherwise single-quoted.
    """
    if len(value) > _LONGEST or not _ONE_LINE_RE.fullmatch(value):
        return None
    if value and _plain_allowed(value) and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG:
        return value
    return "'" + value.replace("'", "''") + "'"


def _plain_allowed(value: str) -> bool:
    first = value[0]
    if first == " " or value[-1] == " " or value.startswith(("---", "...")) or first in _INDICATOR_FIRST:
        return False
    if first in "?:-" and value[1:2] in ("", " "):
        return False
    return ": " not in value and not value.endswith(":") and " #" not in value


def block_yaml(data: dict[str, Any]) -> str | None:
    """``data`` as :func:`dump_yaml` writes it, for a mapping of strings, integers, booleans, mappings
    of strings and lists of strings or of such mappings (a post's front matter), without PyYAML's
    representer, which takes most of the time of writing a post. None for anything else (PyYAML writes
    it then). ``tests/test_format.py`` compares the two on many values.
    """
    if _Dumper is not getattr(yaml, "CSafeDumper", None):  # the pure-Python emitter decides styles its own way
        return None
    out: list[str] = []
    for key, value in data.items():
        if not _simple_key(key):
            return None
        if isinstance(value, dict) and value:
            out.append(f"{key}:\n")
            if not _block_mapping(value, "  ", "  ", out):
                return None
        elif isinstance(value, list) and value:
            out.append(f"{key}:\n")
            for item in value:
                if not (_block_mapping(item, "- ", "  ", out) if isinstance(item, dict) and item else _item(item, out)):
                    return None
        else:
            text = _scalar(value)
            if text is None:
                return None
            out.append(f"{key}: {text}\n")
    return "".join(out) if out else None


def _block_mapping(data: dict[Any, Any], first: str, rest: str, out: list[str]) -> bool:
    for index, (key, value) in enumerate(data.items()):
        text = _scalar(value)
        if not _simple_key(key) or text is None:
            return False
        out.append(f"{rest if index else first}{key}: {text}\n")
    return True


@functools.lru_cache(maxsize=256)  # (a few keys, over and over)
def _simple_key(key: Any) -> bool:
    return isinstance(key, str) and len(key) <= 100 and yaml_scalar(key) == key


def _item(value: Any, out: list[str]) -> bool:
    text = _scalar(value)
    if text is not None:
        out.append(f"- {text}\n")
    return text is not None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return yaml_scalar(value)
    return None


def split_front_matter(text: str) -> tuple[str, str, int]:
    """Split file text into (yaml text, body, line number where the body starts)."""
    text = text.lstrip("\ufeff")
    if not text.startswith(_FM_OPEN) and not text.startswith("---\r\n"):
        raise FormatError("file must start with a '---' line opening YAML front matter")
    text = text.replace("\r\n", "\n")
    close = _FM_CLOSE_RE.search(text, len(_FM_OPEN))
    if close is None:
        raise FormatError("front matter is never closed by a '---' line")
    head = text[len(_FM_OPEN) : close.start()]
    body = text[close.end() + 1 :] if close.end() < len(text) else ""
    body_line = head.count("\n") + 3
    return head, body, body_line


def load_yaml(text: str) -> Any:
    """Parse YAML with the safe loader; raise :class:`FormatError` with a line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1) if mark is not None else 1
        raise FormatError(f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise FormatError(f"invalid YAML: {exc}") from None


def parse_front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """Return (front matter mapping, body, body start line)."""
    head, body, body_line = split_front_matter(text)
    data = load_yaml(head) if head.strip() else {}
    if not isinstance(data, dict):
        raise FormatError("front matter must be a mapping of field: value", 2)
    return data, body, body_line


def key_lines(yaml_text: str, offset: int = 0) -> dict[str, int]:
    """Map each top-level key of a YAML mapping to its 1-based line number."""
    try:
        node = yaml.compose(yaml_text, Loader=_Loader)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 1 + offset for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
