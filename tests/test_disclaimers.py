"""Signatures no client marked and confidentiality disclaimers, set aside as signatures (issue #18, in part).

Corporate Outlook mail ends with "--" and a disclaimer in most of the organisations we serve; it is
folded on the page like any signature, and nothing of it is lost."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import pytest

from mailgateway.disclaimers import opens_disclaimer
from mailgateway.parse import parse_message
from mailgateway.trim import split_reply


def parsed(body: str, subtype: str = "plain"):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"], message["Message-ID"] = "a@x.org", "h@y.org", "s", "<1@x>"
    message.set_content(body, subtype=subtype)
    return parse_message(message.as_bytes(), dt.datetime.now(dt.UTC))


@pytest.mark.parametrize(
    "opening",
    [
        "This email and any attachments are confidential and intended solely for the addressee.",
        "CONFIDENTIALITY NOTICE: The contents of this email message and any attachments are intended solely",
        "The information contained in this e-mail is confidential and may be legally privileged.",
        "If you are not the intended recipient of this message, please notify the sender and delete it.",
        "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen.",
        "Ce message et toutes les pièces jointes sont confidentiels et établis à l'intention exclusive",
        "Este mensaje y sus anexos son confidenciales y están dirigidos exclusivamente a su destinatario.",
        "Dit e-mailbericht is vertrouwelijk en uitsluitend bestemd voor de geadresseerde.",
        "Questo messaggio e i suoi allegati sono riservati e destinati esclusivamente al destinatario.",
    ],
)
def test_a_disclaimer_below_the_text_is_set_aside_in_plain_text_and_html(opening: str) -> None:
    assert opens_disclaimer(opening)
    reply = split_reply(f"Hi all,\n\nThe rota is attached.\n\nAnn\n\n{opening}\nNorthfield Health\n")
    assert reply.body == "Hi all,\n\nThe rota is attached.\n\nAnn"
    assert reply.signature == f"{opening}\nNorthfield Health"
    html = parsed(f"<p>Hi all,</p><p>The rota is attached.</p><p>Ann</p><p><small>{opening}</small></p>", "html")
    assert html.body == "Hi all,\n\nThe rota is attached.\n\nAnn"
    assert html.signature.startswith(opening.split()[0])


def test_outlooks_dashes_line_opens_the_signature_in_html() -> None:
    mail = parsed(
        "<div>Hi all,<br>the rota is attached.<br><br>--<br>Ann Lee<br>Charge nurse, Ward 7<br>"
        "<span style='font-size:8pt'>This email and any attachments are confidential.</span></div>",
        "html",
    )
    assert mail.body == "Hi all,\nthe rota is attached."
    assert mail.signature.startswith("Ann Lee\nCharge nurse, Ward 7")
    assert "--" not in mail.signature  # (the delimiter itself goes)


@pytest.mark.parametrize(
    ("body", "subtype"),
    [
        ("This email is confidential and intended only for the ward managers.", "plain"),  # nothing above it
        ("<p>This email is confidential and intended only for the ward managers.</p>", "html"),
        ("Please keep this confidential.\n\nThe audit is next week.", "plain"),  # not how a disclaimer opens
        ("<p>Use -- between the fields: bed -- ward -- time.</p>", "html"),  # dashes inside a line
        ("<p>--</p><p>Only this, below a dash line.</p>", "html"),  # nothing above the dashes
        ("<p>Hi</p><p>--</p>" + "<p>" + "a long line of text after the dashes " * 80 + "</p>", "html"),  # too long
    ],
)
def test_what_the_sender_wrote_stays_in_the_post(body: str, subtype: str) -> None:
    mail = parsed(body, subtype)
    assert mail.signature == "" and mail.body.replace("\\", "").strip()
