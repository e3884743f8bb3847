"""The project's own exceptions, in one place.

Content problems are values (:class:`intranet.format.Problem`), not exceptions:
reading never raises on bad content. These are for what stops a unit of work.
"""

from __future__ import annotations


class IntranetError(Exception):
    """Base of the project's exceptions."""


class ConfigError(IntranetError, ValueError):
    """A setting that cannot be used as it stands (a key file that cannot be read): nothing starts."""


class FormatError(IntranetError, ValueError):
    """A file that cannot be read at all (no or broken front matter, invalid YAML)."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


class BuildError(IntranetError):
    """MkDocs or a page failed to render: the last good site stays."""


class StoreError(IntranetError):
    """The gateway's Git repository cannot take a commit."""


class HistoryError(IntranetError):
    """A Git revision that cannot be read."""


class UnreadablePost(IntranetError):
    """A post file the gateway must compare with a new message cannot be read: it is not overwritten."""


class UnreadableMessage(IntranetError):
    """Mail whose content cannot be parsed: rejected for good with a notice, never retried (it would fail again).

    ``reason`` is the record's reason code; the message says what was wrong, for the record and the log.
    """

    reason = "unreadable"


class MessageTooComplex(UnreadableMessage):
    """Mail that takes longer than ``max_parse_seconds`` to read: rejected the same way."""

    reason = "too-complex"


class ReaderError(IntranetError):
    """The process that reads mail failed (not the message's fault): the message is retried."""


class MessageNotFetched(IntranetError):
    """An IMAP server lists a message but does not give it: counted against it, and given up after a few tries."""
