"""YAML front matter: written with a safe dumper, read with a safe loader.

Nothing in a file can construct a Python object, and any string round-trips exactly.
"""

from __future__ import annotations

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
    return f"{_FM_OPEN}{dump_yaml(data)}---\n{body}"


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
