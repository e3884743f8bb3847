"""Short, human notices to senders whose mail was not published, and the outbox.

At most one notice per sender, per reason, per day (a sender who keeps
mailing a closed topic gets one answer, not a storm). Notices are sent with
the null return path and ``Auto-Submitted: auto-replied``, so well-behaved
systems never answer them. They leave through the outgoing queue
(:mod:`mailgateway.outgoing`) like all the gateway's mail.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from intranet.settings import Settings

from .outgoing import Outgoing
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
    "subscribe-unknown": (
        "We could not find you in the directory",
        "You asked to change your mail from {community}, but your address is not in the intranet's "
        "people directory, so we cannot tell whether you may read it.\n\n"
        "Please ask one of the community's moderators or an editor to add you.",
    ),
    "not-in-audience": (
        "That community is not open to you",
        "{community} is only open to some groups of people, and you are not in them, so we cannot send "
        "you its mail.\n\nIf you think you should be, please ask one of its moderators.",
    ),
    "confirm-expired": (
        "That confirmation has expired",
        "The confirmation you answered is more than a week old. Please ask again by writing to {again}.",
    ),
    "now-each": ("You are subscribed", "From now on you get every post of {community} by email."),
    "now-digest": ("You get the daily digest", "From now on you get a daily digest of {community} by email."),
    "now-none": ("You are unsubscribed", "You no longer get mail from {community}."),
    "digest-reply": (
        "Replies to a digest are not posted",
        "You replied to a digest of {community}. A digest lists many topics, so we cannot tell which one "
        "you meant, and your message was not published.\n\n"
        "To answer in a topic, open it on the intranet and use its Reply by email button, or reply to the "
        "notification of the post itself (write to the community's address for those to come one by one). "
        "To start a new topic, write to the community's address.",
    ),
    "unreadable": (
        "We could not read your message",
        "Your message to {address} was not published: we could not take it apart into its text and "
        "attachments (its structure is broken, or nested too deeply).\n\n"
        "Please send it again as a new message, with your text typed or pasted in rather than forwarded "
        "inside other messages.",
    ),
    "too-complex": (
        "Your message took too long to read",
        "Your message to {address} was not published: its formatting is so large or so complex that "
        "reading it took longer than we allow for one message.\n\n"
        "Please send it again with less formatting, or as plain text, and without the long quoted history.",
    ),
    "subject-replaced": (
        "Your message was published with another subject",
        "Your message to {address} was published in {community}, but not with the subject you gave it: "
        "that subject named a topic in another community that some of {community}'s readers may not read. "
        "It was published with the subject \u201c{new_subject}\u201d instead.\n\n"
        "Quoted text from that topic was left out for the same reason. Next time, please start a new "
        "message to {community_address} rather than answering a message from the other community.",
    ),
    "rejected-by-moderator": (
        "Your message was not published",
        "A moderator of {community} looked at your message and decided not to publish it.\n\n"
        "Their reason: {moderator_reason}",
    ),
    "moderation-unclear": (
        "We could not read your decision",
        "Your reply about a held message in {community} did not start with approve or reject, so nothing "
        "was done. Reply to the moderation request again with one of those words on the first line.",
    ),
    "joined": (
        "Welcome to the intranet",
        "You are in the intranet's people directory now, as staff, and can write to any community open "
        "to staff at its address, such as {community_address}. Messages of yours that were waiting: "
        "{released}, now published.",
    ),
    "join-already": (
        "You are in the intranet already",
        "You wrote to {address} to join the intranet, but your address is in its people directory already, "
        "as {name}. Write to any community's address to post; to change your profile, send #profile to it.",
    ),
    "join-not-open": (
        "Joining the intranet",
        "You wrote to {address} to join the intranet. Only addresses of the organisation's own mail "
        "domains can add themselves; partners and suppliers are added by a community's moderator (when "
        "they approve your first message) or by the intranet's editors. Write to the community you want "
        "to take part in, and its moderators will see your message.",
    ),
    "mention-not-told": (
        "Some people you mentioned were not told",
        "Your post in {community} mentions {names}, who may not read {community}: they were not sent it, "
        "and the mention shows as plain text on the intranet.",
    ),
    "announcements-only": (
        "That community is for announcements",
        "{community} publishes announcements from its moderators only, so your message to {address} was "
        "not published. You can still react to an announcement: reply with just +1, a heart or thanks.\n\n"
        "To discuss it, write to a community open to discussion, or to one of its moderators.",
    ),
    "profile-done": (
        "Your profile",
        "You sent #profile. What became of it:\n\n{receipt}",
    ),
    "commands-done": (
        "What your commands did",
        "Your reply to \u201c{topic}\u201d in {community} began with commands. What became of them:\n\n"
        "{receipt}\n\n{posted}",
    ),
    "vote-taken": (
        "Your vote",
        "Your vote in \u201c{topic}\u201d: {option}.\n\nIt was counted in {community}; nothing was published and "
        "nobody else was mailed. To change it, reply to the topic again with another option's number or "
        "text: your last vote is the one counted.",
    ),
    "poll-not-opened": (
        "Your topic was published, but no poll was opened",
        "Your topic \u201c{topic}\u201d in {community} began with #poll, but no poll was opened: {problem}.\n\n"
        "It was published as written. To run the poll, start a new topic whose first line is #poll, "
        "followed by the options as a list, one a line:\n\n#poll\n- First option\n- Second option",
    ),
    "command-not-authentic": (
        "Your commands were not carried out",
        "Your reply to {address} began with commands (lines such as #accept), but {why}, so nothing "
        "was done and nothing was published. Commands are taken only from people in the intranet's "
        "directory whose mail our server can confirm came from them.",
    ),
    "event-not-made": (
        "Your message was published, but not as an event",
        "Your message to {address} was published in {community}, but it did not become an event: "
        "{event_problem}.\n\n"
        "To make it one, reply to it with #event and the lines that say when and where, for example:\n\n"
        "#event\nWhen: 2026-12-10 14:00-15:30\nWhere: Room 3, Level 2",
    ),
    "event-unknown": (
        "No such event",
        "Your calendar mail to {address} answers or cancels an event that is not in {community}, so nothing "
        "was done and nothing was published.",
    ),
    "event-done": (
        "Your calendar mail",
        "Your calendar mail about \u201c{topic}\u201d in {community}: {event_receipt}",
    ),
}


# Answers to one deliberate act each: sent every time, not once a day.
EVERY_TIME = {
    "rejected-by-moderator",
    "now-each",
    "now-digest",
    "now-none",
    "commands-done",
    "mention-not-told",
    "profile-done",
    "vote-taken",
    "poll-not-opened",
}


class _Blank(dict):
    """Values for a notice text; a missing one reads as empty rather than failing."""

    def __missing__(self, key: str) -> str:
        return ""


HOLD_WHY = {
    "not-authentic": "our mail server could not confirm that it really came from your address",
    "unverified-sender": "our mail server could not confirm that it really came from your address",
    "not-known": "this community takes posts from people in the directory, and your address is not there",
    "not-member": "this community takes posts from its members only",
    "token-not-yours": "it was sent to a reply address issued to someone else",
    "not-in-audience": "this community is not open to your group, so a moderator decides",
}


class Notices:
    def __init__(self, state_dir: Path, settings: Settings, send: Callable[[EmailMessage, Outgoing], None]) -> None:
        self.settings = settings
        self.deliver = send
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
        if reason not in EVERY_TIME and self._already_sent(to, reason, now.date().isoformat()):
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
        body = text.format_map(_Blank(values))
        message.set_content(f"Hello,\n\n{body}\n\n-- \n{self.settings.site_name}\n")
        self.deliver(message, Outgoing(mail_from="", rcpt=to, kind="notice"))
        log.info("queued notice %s to %s", reason, to)
        return True
