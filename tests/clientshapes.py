"""Replies as mail clients shape them (issue #18): a test set with the expected new text, quote and signature.

Each shape writes a reply the way one client does (plain text or HTML, its attribution line, its
quote markup, where it puts a signature), from our own knowledge of those clients and of the
public corpora in ``../shared/corpus`` (talon, Discourse, email_reply_parser, mail-parser-reply).
:func:`cases` crosses every shape with a few contents, so each case knows what the sender wrote
(``new``), what they quoted (``quoted``) and their signature (``signature``, "" for none).
tests/test_fidelity.py checks our parser on each; bench/fidelity_bench.py compares it with
quotequail and mail-parser-reply on the same set.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

ANN = "Ann Lee <ann.lee@northfield-health.example>"
WHEN = "Mon, 2 Nov 2026 at 09:00"


@dataclass(frozen=True)
class Content:
    new: str  # paragraphs separated by blank lines
    quoted: str
    signature: str  # "" for none
    sender: str = "Bo Chen <bo.chen@northfield-health.example>"  # who signs it sends it


CONTENTS = [
    Content("Yes, Ward 7 does the 7am handover at the bedside.", "Who does bedside handover at 7am?", ""),
    Content(
        "Thanks Ann.\n\nWe changed two things on Ward 9: the card goes with the patient, and night staff sign it.",
        "Can each ward say what changed after the audit?",
        "Bo Chen\nClinical Nurse Educator, Ward 9\nPhone 03 9555 0199",
    ),
    Content(
        "Dee covers nights from Monday and Eli covers days.\n\nThe rota is on the intranet: "
        "https://intranet.example/rota",
        "Who covers the rota next week?\n\nAnn",
        "Dee Ng\nAfter-hours coordinator",
        "Dee Ng <dee.ng@northfield-health.example>",
    ),
]
DISCLAIMER = "This email and any attachments are confidential and intended solely for the addressee."
MOBILE = "Sent from my iPhone"  # what the iPhone's shapes add below the text: a signature too


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    new: str
    quoted: str
    signature: str


def _paras_html(text: str) -> str:
    return "".join(f"<div>{html.escape(p)}</div><div><br></div>" for p in text.split("\n\n"))


def _lines_html(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.split("\n"))


def _quote_lines(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def _sig_text(c: Content, delimiter: str = "-- ") -> str:
    return f"\n\n{delimiter}\n{c.signature}" if c.signature else ""


# -- plain text ---------------------------------------------------------------------------------


def gmail_text(c: Content) -> str:
    return f"{c.new}{_sig_text(c)}\n\nOn {WHEN}, {ANN} wrote:\n\n{_quote_lines(c.quoted)}\n"


def apple_text(c: Content) -> str:
    return f"{c.new}{_sig_text(c)}\n\n> On 2 Nov 2026, at 09:00, {ANN} wrote:\n> \n{_quote_lines(c.quoted)}\n"


def iphone_text(c: Content) -> str:
    sig = f"\n\n{c.signature}" if c.signature else ""
    return f"{c.new}{sig}\n\nSent from my iPhone\n\n> On 2 Nov 2026, at 09:00, {ANN} wrote:\n> \n{_quote_lines(c.quoted)}\n"


def outlook_text(c: Content) -> str:
    return (
        f"{c.new}{_sig_text(c)}\n\n________________________________\nFrom: {ANN}\n"
        f"Sent: Monday, 2 November 2026 9:00 AM\nTo: Clinical Handover\nSubject: Rota\n\n{c.quoted}\n"
    )


def outlook_original_text(c: Content) -> str:
    return (
        f"{c.new}{_sig_text(c)}\n\n-----Original Message-----\nFrom: {ANN}\n"
        f"Sent: Monday, November 02, 2026 9:00 AM\nTo: Clinical Handover\nSubject: Rota\n\n{c.quoted}\n"
    )


def thunderbird_text(c: Content) -> str:
    return f"{c.new}{_sig_text(c)}\n\nOn 02/11/2026 09:00, Ann Lee wrote:\n{_quote_lines(c.quoted)}\n"


def outlook_german_text(c: Content) -> str:
    return (
        f"{c.new}{_sig_text(c)}\n\nVon: {ANN}\nGesendet: Montag, 2. November 2026 09:00\n"
        f"An: Clinical Handover\nBetreff: Rota\n\n{c.quoted}\n"
    )


def gmail_french_text(c: Content) -> str:
    return f"{c.new}{_sig_text(c)}\n\nLe lun. 2 nov. 2026 à 09:00, {ANN} a écrit :\n\n{_quote_lines(c.quoted)}\n"


def disclaimer_text(c: Content) -> str:
    sig = f"\n\n{c.signature}" if c.signature else ""
    return f"{c.new}{sig}\n\n{DISCLAIMER}\n\nOn {WHEN}, {ANN} wrote:\n\n{_quote_lines(c.quoted)}\n"


# -- HTML ---------------------------------------------------------------------------------------


def gmail_html(c: Content) -> str:
    sig = (
        '<br clear="all"><div><br></div><span class="gmail_signature_prefix">-- </span><br>'
        f'<div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature">{_lines_html(c.signature)}</div>'
        if c.signature
        else ""
    )
    return (
        f'<div dir="ltr">{_paras_html(c.new)}{sig}</div><br><div class="gmail_quote"><div dir="ltr" '
        f'class="gmail_attr">On {WHEN}, Ann Lee &lt;ann.lee@northfield-health.example&gt; wrote:<br></div>'
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
        f'padding-left:1ex"><div dir="ltr">{html.escape(c.quoted)}</div></blockquote></div>'
    )


def outlook_web_html(c: Content) -> str:
    sig = f"<div>--<br>{_lines_html(c.signature)}</div>" if c.signature else ""
    return (
        f'<div dir="ltr">{_paras_html(c.new)}{sig}</div><div id="appendonsend"></div>'
        '<hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr">'
        '<font face="Calibri, sans-serif" style="font-size:11pt" color="#000000"><b>From:</b> Ann Lee '
        "&lt;ann.lee@northfield-health.example&gt;<br><b>Sent:</b> Monday, 2 November 2026 09:00<br>"
        "<b>To:</b> Clinical Handover<br><b>Subject:</b> Rota</font><div>&nbsp;</div></div>"
        f"<div>{html.escape(c.quoted)}</div>"
    )


def outlook_desktop_html(c: Content) -> str:
    paras = "".join(f"<p class=MsoNormal>{html.escape(p)}<o:p></o:p></p>" for p in c.new.split("\n\n"))
    sig = (
        "<p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>--<br>"
        + _lines_html(c.signature)
        + "<o:p></o:p></p>"
        + f'<p class=MsoNormal><span style="font-size:7.5pt">{DISCLAIMER}</span></p>'
        if c.signature
        else ""
    )
    return (
        f"<html><body lang=EN-AU><div class=WordSection1>{paras}{sig}<p class=MsoNormal><o:p>&nbsp;</o:p></p>"
        "<div><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>"
        "<p class=MsoNormal><b>From:</b> Ann Lee &lt;ann.lee@northfield-health.example&gt; <br><b>Sent:</b> "
        "Monday, 2 November 2026 09:00<br><b>To:</b> Clinical Handover<br><b>Subject:</b> Rota<o:p></o:p></p>"
        f"</div></div><p class=MsoNormal>{html.escape(c.quoted)}<o:p></o:p></p></div></body></html>"
    )


def apple_html(c: Content) -> str:
    sig = f"<div><br></div><div>{_lines_html(c.signature)}</div>" if c.signature else ""
    return (
        f'<html><body style="word-wrap: break-word;">{_paras_html(c.new)}{sig}<div><br><blockquote type="cite">'
        "<div>On 2 Nov 2026, at 09:00, Ann Lee &lt;ann.lee@northfield-health.example&gt; wrote:</div><br>"
        f"<div><div>{html.escape(c.quoted)}</div></div></blockquote></div></body></html>"
    )


def thunderbird_html(c: Content) -> str:
    sig = f'<pre class="moz-signature" cols="72">-- \n{html.escape(c.signature)}</pre>' if c.signature else ""
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in c.new.split("\n\n"))
    return (  # (replying above the quote: the signature below the reply)
        f'<html><body>{paras}{sig}<div class="moz-cite-prefix">On 02/11/2026 09:00, Ann Lee wrote:<br>'
        f'</div><blockquote type="cite">{html.escape(c.quoted)}</blockquote></body></html>'
    )


def ios_html(c: Content) -> str:
    sig = f'<div dir="ltr">{_lines_html(c.signature)}</div>' if c.signature else ""
    return (
        f'<html><body dir="auto"><div dir="ltr">{_paras_html(c.new)}</div>{sig}<div dir="ltr">Sent from my '
        'iPhone</div><div dir="ltr"><br><blockquote type="cite">On 2 Nov 2026, at 09:00, Ann Lee '
        '&lt;ann.lee@northfield-health.example&gt; wrote:<br><br></blockquote></div><blockquote type="cite">'
        f'<div dir="ltr">{html.escape(c.quoted)}</div></blockquote></body></html>'
    )


def yahoo_html(c: Content) -> str:
    sig = f"<div>--<br>{_lines_html(c.signature)}</div>" if c.signature else ""
    return (
        f'<html><body><div class="ydp-body">{_paras_html(c.new)}{sig}</div><div id="yahoo_quoted_1" '
        'class="yahoo_quoted"><div style="font-family:Helvetica;font-size:13px;color:#26282a;"><div>On Monday, '
        "2 November 2026, 09:00:00 AEDT, Ann Lee &lt;ann.lee@northfield-health.example&gt; wrote:</div><div><br>"
        f"</div><div><div>{html.escape(c.quoted)}</div></div></div></div></body></html>"
    )


TEXT_SHAPES: dict[str, Callable[[Content], str]] = {
    "gmail-text": gmail_text,
    "apple-text": apple_text,
    "iphone-text": iphone_text,
    "outlook-text": outlook_text,
    "outlook-original-text": outlook_original_text,
    "thunderbird-text": thunderbird_text,
    "outlook-german-text": outlook_german_text,
    "gmail-french-text": gmail_french_text,
    "disclaimer-text": disclaimer_text,
}
HTML_SHAPES: dict[str, Callable[[Content], str]] = {
    "gmail-html": gmail_html,
    "outlook-web-html": outlook_web_html,
    "outlook-desktop-html": outlook_desktop_html,
    "apple-html": apple_html,
    "thunderbird-html": thunderbird_html,
    "ios-html": ios_html,
    "yahoo-html": yahoo_html,
}


def message(body: str, subtype: str, n: int, sender: str) -> bytes:
    """``sender``'s reply to Ann's "Rota", its only body ``body`` (``subtype``: "plain" or "html")."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = "handover@intranet.localhost"
    reply["Subject"] = "Re: Rota"
    reply["Message-ID"] = f"<shape-{n}@northfield-health.example>"
    reply["In-Reply-To"] = "<rota@northfield-health.example>"
    reply.set_content(body, subtype=subtype)
    return reply.as_bytes()


def cases() -> list[Case]:
    found = []
    for shapes, subtype in ((TEXT_SHAPES, "plain"), (HTML_SHAPES, "html")):
        for name, shape in shapes.items():
            for n, content in enumerate(CONTENTS):
                raw = message(shape(content), subtype, len(found), content.sender)
                signature = content.signature
                if name.startswith(("iphone", "ios")):
                    signature = f"{signature}\n{MOBILE}".strip()
                if name == "disclaimer-text" or (name == "outlook-desktop-html" and signature):
                    signature = f"{signature}\n{DISCLAIMER}".strip()
                found.append(Case(f"{name}-{n}", raw, content.new, content.quoted, signature))
    return found
