"""Score reply trimmers on the Discourse ``email_reply_trimmer`` corpus.

The corpus (``shared/corpus/discourse-email_reply_trimmer``, beside the repository) holds 64 email bodies
in ``emails/`` and, under the same names, the expected new text in ``trimmed/``. A trimmer's result counts as
right when it equals the expected text once line endings are normalised and whitespace is stripped from
both ends of the whole text.

It scores :func:`mailgateway.trim.split_reply` (its ``body``) and, as baselines printed beside it, the
libraries ``email-reply-parser`` (``parse_reply``) and ``mail-parser-reply`` (all its languages; the body of
its newest reply, which scores better than its ``parse_reply``) when they are installed; a missing library is
skipped with a message. One line per file, then the totals, e.g. ``64/64``.

Run it from the repository root::

    python bench/trim_corpus.py
    python bench/trim_corpus.py --corpus /path/to/discourse-email_reply_trimmer --failures
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailgateway.trim import split_reply

Trimmer = Callable[[str], str]


@dataclass(frozen=True)
class Case:
    name: str
    email: str
    expected: str


def default_corpus() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "corpus" / "discourse-email_reply_trimmer"


def normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def is_right(got: str, expected: str) -> bool:
    return normalise(got) == normalise(expected)


def _read(path: Path) -> str:
    # Bytes, not read_text(): universal newlines would hide the corpus's CRLF case.
    return path.read_bytes().decode("utf-8", errors="replace")


def load_cases(corpus: Path) -> list[Case]:
    return [
        Case(path.name, _read(path), _read(corpus / "trimmed" / path.name))
        for path in sorted((corpus / "emails").iterdir())
        if (corpus / "trimmed" / path.name).is_file()
    ]


def run(trimmer: Trimmer, case: Case) -> bool:
    try:
        return is_right(trimmer(case.email), case.expected)
    except Exception:  # a baseline that crashes on a case fails that case  # noqa: BLE001 - the bench counts failures
        return False


def score(trimmer: Trimmer, cases: list[Case]) -> list[str]:
    """Names of the cases the trimmer gets wrong."""
    return [case.name for case in cases if not run(trimmer, case)]


def ours(text: str) -> str:
    return split_reply(text).body


def baselines() -> dict[str, Trimmer | str]:
    """The libraries to compare with: a trimmer, or why it is skipped."""
    found: dict[str, Trimmer | str] = {}
    try:
        from email_reply_parser import EmailReplyParser
    except ImportError:
        found["email-reply-parser"] = "not installed (pip install email-reply-parser)"
    else:
        found["email-reply-parser"] = EmailReplyParser.parse_reply
    try:
        from mailparser_reply import EmailReplyParser as MailParserReply
        from mailparser_reply.constants import MAIL_LANGUAGES
    except ImportError:
        found["mail-parser-reply"] = "not installed (pip install mail-parser-reply)"
    else:
        found["mail-parser-reply"] = _first_reply_body(MailParserReply(languages=list(MAIL_LANGUAGES)))
    return found


def _first_reply_body(parser: Any) -> Trimmer:
    """mail-parser-reply's newest reply without its signature: its ``parse_reply`` keeps the signature."""

    def trim(text: str) -> str:
        replies = parser.read(text).replies
        return replies[0].body if replies else ""

    return trim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="the discourse corpus folder")
    parser.add_argument("--failures", action="store_true", help="list only the files someone gets wrong")
    args = parser.parse_args(argv)
    if not (args.corpus / "emails").is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    cases = load_cases(args.corpus)
    trimmers: dict[str, Trimmer] = {"mailgateway.trim": ours}
    for name, found in baselines().items():
        if isinstance(found, str):
            print(f"skipping {name}: {found}")
        else:
            trimmers[name] = found
    wrong = {name: set(score(trimmer, cases)) for name, trimmer in trimmers.items()}
    width = max(len(case.name) for case in cases)
    print(f"{'file':<{width}}  " + "  ".join(f"{name:>18}" for name in trimmers))
    for case in cases:
        if args.failures and not any(case.name in names for names in wrong.values()):
            continue
        marks = "  ".join(f"{'FAIL' if case.name in wrong[name] else 'PASS':>18}" for name in trimmers)
        print(f"{case.name:<{width}}  {marks}")
    totals = "  ".join(f"{f'{len(cases) - len(wrong[name])}/{len(cases)}':>18}" for name in trimmers)
    print(f"{'total':<{width}}  {totals}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
