"""Invitations as the three big calendar clients send them, built for the tests.

Outlook (Exchange) writes Windows zone names with a VTIMEZONE whose rules start in 1601, X-MICROSOFT-*
properties, and sends the calendar inline as ``text/calendar; method=REQUEST`` in a
multipart/alternative beside the text and HTML. Google Calendar names IANA zones, adds X-LIC-LOCATION
and an ``invite.ics`` attachment (``application/ics``) after the alternative. Apple Calendar (macOS
Mail) attaches ``text/calendar`` with a file name and writes X-APPLE-* properties. Answers (iTIP
REPLY) come from each the same way, with the attendee's PARTSTAT.
"""

from __future__ import annotations

from email.message import EmailMessage

from mailtest import head

CRLF = "\r\n"

_SYDNEY_WINDOWS = """BEGIN:VTIMEZONE
TZID:AUS Eastern Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+1100
TZOFFSETTO:+1000
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=4
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+1000
TZOFFSETTO:+1100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=10
END:DAYLIGHT
END:VTIMEZONE"""

_SYDNEY_IANA = """BEGIN:VTIMEZONE
TZID:Australia/Sydney
X-LIC-LOCATION:Australia/Sydney
BEGIN:STANDARD
TZOFFSETFROM:+1100
TZOFFSETTO:+1000
TZNAME:AEST
DTSTART:19700405T030000
RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU
END:STANDARD
BEGIN:DAYLIGHT
TZOFFSETFROM:+1000
TZOFFSETTO:+1100
TZNAME:AEDT
DTSTART:19701004T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SU
END:DAYLIGHT
END:VTIMEZONE"""


def _lines(text: str) -> str:
    return CRLF.join(line for line in text.strip().splitlines()) + CRLF


def outlook_ics(
    uid: str,
    method: str = "REQUEST",
    sequence: int = 0,
    start: str = "20261210T140000",
    end: str = "20261210T153000",
    summary: str = "Handover workshop",
    location: str = "Room 3, Level 2",
    organiser: str = "ann.lee@example.org",
    attendee: str = "handover@intranet.localhost",
    partstat: str = "NEEDS-ACTION",
) -> str:
    status = "CANCELLED" if method == "CANCEL" else "CONFIRMED"
    return _lines(f"""
BEGIN:VCALENDAR
METHOD:{method}
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
{_SYDNEY_WINDOWS}
BEGIN:VEVENT
ORGANIZER;CN=Ann Lee:mailto:{organiser}
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};RSVP=TRUE;CN=Clinical Handover:mailto:{attendee}
DESCRIPTION;LANGUAGE=en-AU:Bring your handover sheets.\\n
UID:{uid}
SUMMARY;LANGUAGE=en-AU:{summary}
DTSTART;TZID=AUS Eastern Standard Time:{start}
DTEND;TZID=AUS Eastern Standard Time:{end}
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:20261120T010203Z
TRANSP:OPAQUE
STATUS:{status}
SEQUENCE:{sequence}
LOCATION;LANGUAGE=en-AU:{location}
X-MICROSOFT-CDO-APPT-SEQUENCE:{sequence}
X-MICROSOFT-CDO-OWNERAPPTID:2121451234
X-MICROSOFT-CDO-BUSYSTATUS:BUSY
X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY
X-MICROSOFT-CDO-ALLDAYEVENT:FALSE
X-MICROSOFT-CDO-IMPORTANCE:1
X-MICROSOFT-CDO-INSTTYPE:0
X-MICROSOFT-DONOTFORWARDMEETING:FALSE
X-MICROSOFT-DISALLOW-COUNTER:FALSE
X-MICROSOFT-LOCATIONS:[{{"DisplayName":"{location}","LocationAnnotation":"","LocationUri":"","LocationStreet":"","LocationCity":"","LocationState":"","LocationCountry":"","LocationPostalCode":"","LocationFullAddress":""}}]
BEGIN:VALARM
DESCRIPTION:REMINDER
TRIGGER;RELATED=START:-PT15M
ACTION:DISPLAY
END:VALARM
END:VEVENT
END:VCALENDAR
""")


def google_ics(
    uid: str,
    method: str = "REQUEST",
    sequence: int = 0,
    start: str = "20261210T140000",
    end: str = "20261210T153000",
    summary: str = "Handover workshop",
    location: str = "Room 3, Level 2",
) -> str:
    return _lines(f"""
BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:{method}
{_SYDNEY_IANA}
BEGIN:VEVENT
DTSTART;TZID=Australia/Sydney:{start}
DTEND;TZID=Australia/Sydney:{end}
DTSTAMP:20261120T010203Z
ORGANIZER;CN=Ann Lee:mailto:ann.lee@example.org
UID:{uid}
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=
 TRUE;CN=handover@intranet.localhost;X-NUM-GUESTS=0:mailto:handover@intranet.localhost
X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij
CREATED:20261120T010000Z
DESCRIPTION:-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~
 :~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-\\nJoin with Google Meet: https://meet.g
 oogle.com/abc-defg-hij\\n
LAST-MODIFIED:20261120T010203Z
LOCATION:{location}
SEQUENCE:{sequence}
STATUS:CONFIRMED
SUMMARY:{summary}
TRANSP:OPAQUE
BEGIN:VALARM
ACTION:EMAIL
DESCRIPTION:This is an event reminder
SUMMARY:Alarm notification
ATTENDEE:mailto:ann.lee@example.org
TRIGGER:-P0DT0H30M0S
END:VALARM
END:VEVENT
END:VCALENDAR
""")


def apple_ics(
    uid: str, method: str = "REQUEST", sequence: int = 0, day: str = "20261211", summary: str = "Ward 7 open day"
) -> str:
    """An all-day event, as Apple Calendar writes one (DATE values, DTEND the day after)."""
    after = f"{day[:6]}{int(day[6:]) + 1:02d}"
    return _lines(f"""
BEGIN:VCALENDAR
METHOD:{method}
VERSION:2.0
PRODID:-//Apple Inc.//macOS 15.1//EN
CALSCALE:GREGORIAN
BEGIN:VEVENT
CREATED:20261120T010000Z
DTEND;VALUE=DATE:{after}
DTSTAMP:20261120T010203Z
DTSTART;VALUE=DATE:{day}
LAST-MODIFIED:20261120T010203Z
LOCATION:Ward 7\\, Northfield Hospital
ORGANIZER;CN="Ann Lee";EMAIL="ann.lee@example.org":mailto:ann.lee@example.org
ATTENDEE;CN="Clinical Handover";CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:handover@intranet.localhost
SEQUENCE:{sequence}
SUMMARY:{summary}
TRANSP:TRANSPARENT
UID:{uid}
X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-ADDRESS=Northfield Hospital;X-APPLE-RADIUS=70;X-TITLE=Ward 7:geo:-33.8,151.2
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC
END:VEVENT
END:VCALENDAR
""")


def reply_ics(uid: str, attendee: str, partstat: str, sequence: int = 0) -> str:
    """An iTIP REPLY as Outlook sends it when an attendee accepts, declines or answers tentatively."""
    return _lines(f"""
BEGIN:VCALENDAR
METHOD:REPLY
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
BEGIN:VEVENT
ATTENDEE;PARTSTAT={partstat};CN=Someone:mailto:{attendee}
UID:{uid}
SUMMARY;LANGUAGE=en-AU:Accepted: Handover workshop
DTSTART:20261210T030000Z
DTEND:20261210T043000Z
SEQUENCE:{sequence}
DTSTAMP:20261121T010203Z
X-MICROSOFT-CDO-REPLYTIME:20261121T010203Z
END:VEVENT
END:VCALENDAR
""")


def outlook_mail(
    ics: str,
    subject: str = "Handover workshop",
    body: str = "Bring your handover sheets.",
    sender: str = "Ann Lee <ann.lee@example.org>",
    to: str = "handover@intranet.localhost",
    message_id: str | None = None,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """Outlook's shape: text, HTML and the calendar inline, as alternatives."""
    method = next(line.split(":", 1)[1] for line in ics.splitlines() if line.startswith("METHOD:"))
    message = head(subject, sender, to, message_id, in_reply_to)
    message["X-MS-Has-Attach"] = ""
    message["X-MS-TNEF-Correlator"] = ""
    message.set_content(body)
    message.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
    message.add_alternative(ics, subtype="calendar", params={"method": method})
    return message


def google_mail(
    ics: str, subject: str = "Invitation: Handover workshop @ Thu 10 Dec 2026 2pm - 3:30pm (AEDT)", **kw: str
) -> EmailMessage:
    """Google's shape: the alternatives (text, HTML, calendar), then ``invite.ics`` attached."""
    message = outlook_mail(ics, subject=subject, **kw)
    message.add_attachment(ics.encode(), maintype="application", subtype="ics", filename="invite.ics")
    return message


def apple_mail(ics: str, subject: str = "Ward 7 open day", body: str = "All welcome.", **kw: str) -> EmailMessage:
    """Apple Mail's shape: the text, and the calendar as a named ``text/calendar`` attachment."""
    message = head(
        subject,
        kw.get("sender", "Ann Lee <ann.lee@example.org>"),
        kw.get("to", "handover@intranet.localhost"),
        kw.get("message_id"),
        kw.get("in_reply_to"),
    )
    message.set_content(body)
    message.add_attachment(ics, subtype="calendar", filename="iCal-20261120-010203.ics")
    return message
