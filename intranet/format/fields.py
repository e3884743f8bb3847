"""Typed fields of one YAML mapping (front matter or a settings file), with every problem collected."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import FormatError
from .frontmatter import (
    Problem,
    key_lines,
    load_yaml,
)

# Reading, with validation


class Fields:
    """Reads typed fields from one front-matter mapping, collecting problems."""

    def __init__(self, data: dict[str, Any], relpath: str, lines: dict[str, int]) -> None:
        self.data = data
        self.relpath = relpath
        self.lines = lines
        self.problems: list[Problem] = []

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.relpath, self.lines.get(name, 1), name, message))

    def string(self, name: str, required: bool = False, default: str = "") -> str:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, "required field is missing")
            return default
        if isinstance(value, (dict, list)):
            self.problem(name, "must be text")
            return default
        if isinstance(value, bool):
            self.problem(name, "must be text, not true/false (quote it)")
            return default
        return str(value)

    def strings(self, name: str, pattern: re.Pattern[str] | None = None) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.problem(name, "must be a list of text values")
            return []
        result = [str(v) for v in value]
        if pattern is not None:
            for item in result:
                if not pattern.match(item):
                    self.problem(name, f"{item!r} is not valid here")
            result = [v for v in result if pattern.match(v)]
        return result

    def choice(self, name: str, choices: Iterable[str], default: str | None = None) -> str:
        choices = tuple(choices)
        value = self.string(name, required=default is None, default=default or "")
        if value and value not in choices:
            self.problem(name, f"{value!r} is not one of: {', '.join(choices)}")
            return default or choices[0]
        return value

    def unknown(self, known: Iterable[str]) -> None:
        allowed = set(known)
        for name in self.data:
            if str(name) not in allowed:
                self.problem(str(name), "unknown field (misspelt?)")


COMMUNITY_FIELDS = (
    "name",
    "purpose",
    "mail",
    "moderators",
    "audience",
    "members",
    "posting",
    "tags",
    "subscription",
    "subject_tag",
)
PERSON_FIELDS = (
    "name",
    "emails",
    "kind",
    "organisation",
    "role",
    "expertise",
    "teams",
    "members",
    "about",
    "undeliverable",
)
POST_FIELDS = (
    "message_id",
    "topic",
    "in_reply_to",
    "author",
    "date",
    "subject",
    "source",
    "tags",
    "attachments",
    "content_hash",
    "closed",
    "pinned",
    "accepted",
    "edited",
    "deleted",
    "notify",
    "event",
    "rsvp",
    "reactions",
    "poll",
    "votes",
)


def read_yaml_file(path: Path, relpath: str) -> tuple[dict[str, Any] | None, dict[str, int], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, {}, [Problem(relpath, 1, "file", "is not valid UTF-8")]
    return parse_yaml_mapping(text, relpath)


def parse_yaml_mapping(text: str, relpath: str) -> tuple[dict[str, Any] | None, dict[str, int], list[Problem]]:
    """The text of a YAML file holding one mapping: (mapping or None, key lines, problems)."""
    try:
        data = load_yaml(text) if text.strip() else {}
    except FormatError as exc:
        return None, {}, [Problem(relpath, exc.line, "file", str(exc))]
    if not isinstance(data, dict):
        return None, {}, [Problem(relpath, 1, "file", "must be a mapping of field: value")]
    return data, key_lines(text), []
