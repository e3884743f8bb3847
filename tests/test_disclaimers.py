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


def signed(body: str, subtype: str, sender: str):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"], message["Message-ID"] = sender, "h@y.org", "s", "<2@x>"
    message.set_content(body, subtype=subtype)
    return parse_message(message.as_bytes(), dt.datetime.now(dt.UTC))


BO = "Bo Chen <bo.chen@northfield-health.example>"
NAME_BLOCKS = [
    ("Yes, at the bedside.\n\nBo Chen\nClinical Nurse Educator, Ward 9", "plain", BO),
    ("Yes, at the bedside.\n\nThanks,\nDr Bo Chen, RN MSc\nWard 9", "plain", BO),
    ("Yes, at the bedside.\n\nBo Chen | Ward 9\n\nSent from my iPhone", "plain", BO),
    ("Yes, at the bedside.\n\nBo Chen\nWard 9", "plain", '"Chen, Bo" <bo.chen@northfield-health.example>'),
    ("<div>Yes, at the bedside.</div><div><br></div><div>Bo Chen<br>Clinical Nurse Educator</div>", "html", BO),
    ("<p>Yes, at the bedside.</p><p>Bo Chen<br>Ward 9</p><p>Sent from my iPhone</p>", "html", BO),
    ("<div>Yes, at the bedside.<br><br>Bo Chen<br>Ward 9</div>", "html", BO),
]


@pytest.mark.parametrize(("body", "subtype", "sender"), NAME_BLOCKS)
def test_a_last_paragraph_starting_with_the_senders_name_is_the_signature(body, subtype, sender) -> None:
    mail = signed(body, subtype, sender)
    assert mail.body.replace("\\", "").strip() == "Yes, at the bedside."
    signature = mail.signature.replace("\\", "")
    assert "Bo Chen" in signature and ("Ward 9" in signature or "Educator" in signature)


@pytest.mark.parametrize(
    ("body", "subtype", "sender"),
    [
        ("Yes, at the bedside.\n\nBo Chen\nClinical Nurse Educator, Ward 9", "plain", "Ann Lee <ann@x.org>"),  # not Bo
        ("Yes, at the bedside.\n\nBo Chen will bring the cards on Monday.", "plain", BO),  # a sentence
        ("Yes, at the bedside.\n\nBo Chenoweth\nWard 9", "plain", BO),  # another name
        ("Bo Chen\nClinical Nurse Educator, Ward 9", "plain", BO),  # nothing above it
        ("Yes.\n\n" + "\n".join(["Bo Chen"] + [f"Line {n} of a long list" for n in range(8)]), "plain", BO),
        ("Yes, at the bedside.\n\nBo\nWard 9", "plain", "Bo <bo@x.org>"),  # one word: a sign-off
        ("<p>Yes, at the bedside.</p><p>Ask Bo Chen<br>Ward 9</p>", "html", BO),  # not at a line's start
        ("<p>Yes, at the bedside, said <b>Bo Chen</b><br>on Ward 9</p>", "html", BO),  # inside a line
    ],
)
def test_a_name_that_does_not_start_a_signature_stays(body, subtype, sender) -> None:
    mail = signed(body, subtype, sender)
    assert mail.signature == "", mail.signature
