"""Short, human notices to senders whose mail was not published, and the outbox.

At most one notice per sender, per reason, per day (a sender who keeps
mailing a closed topic gets one answer, not a storm). Notices are sent with
the null return path and ``Auto-Submitted: auto-replied``, so well-behaved
systems never answer them. Outgoing mail goes to the configured SMTP relay,
or, by default, into a local Maildir outbox (``<state_dir>/outbox``) that
nothing reads off the machine.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import json
import logging
import mailbox
import smtplib
from email.message import EmailMessage
from pathlib import Path

from generator.config import Settings

from .spool import write_durably

log = logging.getLogger(__name__)

TEXTS = {
    "unknown-community": (
        "No such community",
        "There is no community at {address}, so your message was not published.\n\n"
        "The communities and their addresses are listed on the intranet's home page.",
    ),
    "empty": (
        "Your message was empty",
        "Your message to {address} had no text of its own once the quoted reply and signature "
        "were set aside, so it was not published.\n\n"
        "Please write your reply above the quoted text and send it again.",
    ),
    "topic-closed": (
        "That topic is closed",
        "The topic \u201c{topic}\u201d in {community} is closed to replies, so your message was not "
        "published.\n\nTo raise something new, start a topic by writing to {community_address}.",
    ),
    "held": (
        "Your message is waiting for a moderator",
        "Your message to {address} was not published straight away: {why}.\n\n"
        "A moderator of {community} will look at it. You do not need to send it again.",
    ),
}

HOLD_WHY = {
    "not-authentic": "our mail server could not confirm that it really came from your address",
    "unverified-sender": "our mail server could not confirm that it really came from your address",
    "not-known": "this community takes posts from people in the directory, and your address is not there",
    "not-member": "this community takes posts from its members only",
    "token-not-yours": "it was sent to a reply address issued to someone else",
}


class Outbox:
    """Delivers outgoing mail: through the relay if one is set, else into a local Maildir."""

    def __init__(self, state_dir: Path, settings: Settings) -> None:
        self.settings = settings
        self.path = Path(state_dir) / "outbox"

    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None:
        if self.settings.relay:
            host, _, port = self.settings.relay.rpartition(":")
            with smtplib.SMTP(host or "127.0.0.1", int(port or 25), timeout=30) as smtp:
                smtp.send_message(message, from_addr=sender, to_addrs=recipients)
            return
        box = mailbox.Maildir(self.path, create=True)
        box.add(message)
        box.close()

    def messages(self) -> list[EmailMessage]:
        if not self.path.is_dir():
            return []
        box = mailbox.Maildir(self.path, factory=None, create=False)
        result = []
        for key in sorted(box.keys()):
            with box.get_file(key) as handle:
                result.append(email.message_from_binary_file(handle, policy=email.policy.default))  # type: ignore[call-overload]
        return result  # type: ignore[return-value]


class Notices:
    def __init__(self, state_dir: Path, settings: Settings, outbox: Outbox) -> None:
        self.settings = settings
        self.outbox = outbox
        self.state_dir = Path(state_dir)
        self.sent_path = self.state_dir / "notices.json"

    def _already_sent(self, sender: str, reason: str, today: str) -> bool:
        try:
            sent = json.loads(self.sent_path.read_text())
        except (FileNotFoundError, ValueError):
            sent = {}
        key = f"{sender.lower()}|{reason}"
        if sent.get(key) == today:
            return True
        sent = {k: v for k, v in sent.items() if v == today}  # forget earlier days
        sent[key] = today
        write_durably(self.sent_path, json.dumps(sent).encode(), self.state_dir)
        return False

    def send(
        self,
        to: str,
        reason: str,
        original_subject: str,
        original_id: str,
        now: dt.datetime,
        **values: str,
    ) -> bool:
        """Send the notice for ``reason`` unless one went to ``to`` today. True if sent."""
        if not to or reason not in TEXTS:
            return False
        if self._already_sent(to, reason, now.date().isoformat()):
            log.info("notice %s to %s already sent today", reason, to)
            return False
        title, text = TEXTS[reason]
        values.setdefault("why", HOLD_WHY.get(values.get("hold", ""), "it needs a moderator's look"))
        message = EmailMessage()
        message["From"] = email.utils.formataddr((self.settings.site_name, self.settings.noreply))
        message["To"] = to
        message["Subject"] = f"{title}: {original_subject}"[:200] if original_subject else title
        message["Date"] = email.utils.format_datetime(now)
        message["Message-ID"] = email.utils.make_msgid(domain=self.settings.mail_domain)
        if original_id:
            message["In-Reply-To"] = original_id
            message["References"] = original_id
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
        message["X-Loop"] = self.settings.noreply
        body = text.format(**{k: v for k, v in values.items()}) if values else text
        message.set_content(f"Hello,\n\n{body}\n\n-- \n{self.settings.site_name}\n")
        try:
            self.outbox.send(message, "", [to])
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("could not send the %s notice to %s: %s", reason, to, exc)
            return False
        log.info("sent notice %s to %s", reason, to)
        return True
