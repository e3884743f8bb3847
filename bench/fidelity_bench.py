"""How many replies from common mail clients each parser splits as their senders wrote them (issue #18).

    python bench/fidelity_bench.py

The set is tests/clientshapes.py: plain-text and HTML replies shaped as Gmail, Outlook (web, desktop,
plain, German), Apple Mail, iPhone, Thunderbird, Yahoo and French Gmail write them, each with the
new text, the quote and the signature it holds. For each parser it prints how many cases get the
new text right (the sender's words exactly: no quote, attribution or signature left in, nothing of
theirs lost) and, for ours, how many get all three parts right. quotequail and mail-parser-reply
read the plain-text part (mail-parser-reply has no HTML reader: an HTML-only message is given the
HTML's text); quotequail reads the HTML part with quote_html where there is one. It asserts nothing.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import html
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from clientshapes import cases  # noqa: E402
from test_fidelity import verdict, words  # noqa: E402

from mailgateway.parse import parse_message  # noqa: E402


def _parts(raw: bytes) -> tuple[str, str]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    return (plain.get_content() if plain else ""), (rich.get_content() if rich else "")


def _text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "\n", fragment))


def quotequail_new(raw: bytes) -> str:
    import quotequail

    text, rich = _parts(raw)
    if rich:
        return _text_of("".join(part for keep, part in quotequail.quote_html(rich) if keep))
    return "".join(part for keep, part in quotequail.quote(text) if keep)


def mailparser_new(raw: bytes) -> str:
    from mailparser_reply import EmailReplyParser

    text, rich = _parts(raw)
    parser = EmailReplyParser(languages=["en", "de", "fr"])
    return parser.parse_reply(text=text or _text_of(rich)) or ""


def lenient(said: str, case) -> bool:
    """The sender's words all there, first, with at most 20 more after them (an attribution line or a
    signature left in, but not the quote): what a parser that does not set signatures apart can reach."""
    got, wanted = words(said), words(case.new)
    return got[: len(wanted)] == wanted and len(got) - len(wanted) <= 20


def main() -> int:
    found = cases()
    received = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    names = ["ours", "quotequail", "mail-parser-reply"]
    exact = dict.fromkeys(names, 0)
    near = dict.fromkeys(names, 0)
    whole = 0
    wrong: dict[str, list[str]] = {name: [] for name in names}
    for case in found:
        mail = parse_message(case.raw, received)
        said = {
            "ours": mail.body,
            "quotequail": quotequail_new(case.raw),
            "mail-parser-reply": mailparser_new(case.raw),
        }
        whole += not verdict(case, mail.body, mail.quoted, mail.signature)
        for name, text in said.items():
            ok = words(text) == words(case.new)
            exact[name] += ok
            near[name] += lenient(text, case)
            if not ok:
                wrong[name].append(case.name)
    print(f"{len(found)} replies from {len({c.name.rsplit('-', 1)[0] for c in found})} client shapes")
    print(f"{'parser':<20}{'new text exactly':>18}{'new text, <=20 words more':>28}")
    for name in names:
        print(f"{name:<20}{exact[name]:>12} of {len(found)}{near[name]:>20} of {len(found)}")
    print(f"ours, new text, quote and signature each right: {whole} of {len(found)}")
    for name, missed in wrong.items():
        print(f"\n{name}, new text not exactly right: {', '.join(missed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
