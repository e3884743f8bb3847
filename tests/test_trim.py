"""Tests for mailgateway.trim: reply / quoted history / signature separation.

Small hand-written examples for each family the trimmer handles, the score on Discourse's corpus (a correctness
floor), expectations on the other shared corpora (read in place, skipped when absent), and two properties:
it never raises, and it loses no non-blank line.
"""

from __future__ import annotations

import email
import importlib.util
import re
import sys
import time
from email import policy
from pathlib import Path
from types import ModuleType

import pytest
from helpers import skip_or_fail
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgateway import trim
from mailgateway.trim import Reply, split_reply

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
INVISIBLE_OR_SPACE = re.compile(r"[\s\ufeff\u200b\u200c\u200d\u2060\u00ad]")


def corpus(name: str) -> Path:
    folder = CORPUS / name
    if not folder.is_dir():
        skip_or_fail(f"shared corpus {name} is not available")
    return folder


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def lost_lines(text: str, reply: Reply) -> list[str]:
    """Non-blank input lines found in none of the three parts (a lone "--" delimiter may go)."""
    kept = set("\n".join((reply.body, reply.quoted, reply.signature)).split("\n"))
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if line.strip() and line not in kept and INVISIBLE_OR_SPACE.sub("", line) != "--"]


def top_post(attribution: str, new: str = "The new text.") -> str:
    return f"{new}\n\n{attribution}\n\n> The previous message.\n> Second line.\n"


# ------------------------------------------------------------------------------------ attributions


def test_plain_text_is_all_body() -> None:
    assert split_reply("Hello there.\n\nSecond paragraph.\n") == Reply("Hello there.\n\nSecond paragraph.", "", "")


@pytest.mark.parametrize("text", ["", "\n\n", "   \n\t\n"])
def test_empty_input(text: str) -> None:
    assert split_reply(text) == Reply("", "", "")


def test_on_date_wrote_top_post() -> None:
    reply = split_reply(top_post("On Mon, Feb 1, 2016 at 4:58 AM, Ann Example <ann@example.org> wrote:"))
    assert reply.body == "The new text."
    assert reply.quoted.startswith("On Mon, Feb 1, 2016")
    assert "> Second line." in reply.quoted
    assert reply.signature == ""


def test_gmail_attribution_wrapped_over_two_lines() -> None:
    text = top_post("On Mon, Feb 1, 2016 at 6:32 PM, Jeff Example <jeff@example.org>\nwrote:")
    reply = split_reply(text)
    assert reply.body == "The new text."
    assert reply.quoted.startswith("On Mon, Feb 1, 2016 at 6:32 PM, Jeff Example <jeff@example.org>\nwrote:")


def test_attribution_wrapped_inside_the_email_address() -> None:
    text = top_post("On Thu, Jun 20, 2013 at 4:18 PM, matt via Forum <\ninfo@example.org> wrote:")
    assert split_reply(text).body == "The new text."


def test_unquoted_history_after_attribution_is_cut() -> None:
    text = (
        "Third.\n\nOn Mon, Feb 1, 2016 at 4:58 AM, Ann <ann@example.org> wrote:\n\nSecond.\n\nOn Sun wrote:\n\nFirst."
    )
    assert split_reply(text).body == "Third."


@pytest.mark.parametrize(
    "attribution",
    [
        "Am 03.02.2016 um 15:35 schrieb Max Mustermann <max@example.org>:",
        "Max Mustermann <max@example.org> schrieb am Fr., 28.\nApr. 2017 um 11:53 Uhr:",
        'Le 4 janv. 2016 19:03, "Neil Example"\n<neil@example.org>\na écrit :',
        "Le 2016-11-16 02:22, Erlend Example a écrit :",
        'Op 16 aug. 2014 05:13 schreef "Ann" <ann@example.org> het\nvolgende geschreven:',
        "Op 2 feb. 2015 om 05:28 heeft Ann <ann@example.org> het volgende geschreven:",
        "El jueves, 21 de noviembre de 2013, Ann escribió:",
        "Il giorno 26 marzo 2016 alle 13.16 Sam <sam@example.org> ha scritto:",
        "Em 2 de fevereiro de 2015 10:58, Ann <\nann@example.org> escreveu:",
        "Den 5 juni 2017 kl. 12:22 skrev Ann Example <ann@example.org>:",
        "ons 4 dec. 2024 kl. 20:42 skrev Person B <person.b@example.org>:",
        "Den 15. jun. 2016 kl. 20.42 skrev Ola Nordmann <ola@example.org>:",
        "Dnia 14 lip 2015 o godz. 00:25 Jan Kowalski <jan@example.org> napisał(a):",
        '23 mar 2017 21:25 "Jan Kowalski" <jan@example.org> napisał(a):',
        "понедельник, 6 октября 2014 г. пользователь lidel написал:",
        '20 окт. 2016 г. 19:37 пользователь "Ivan" <\nivan@example.org> написал:',
        '30 серп. 2016 р. 20:45 "Arpit" <arpit@example.org> пише:',
        "在 2016年12月12日，下午8:45，Erlend <erlend@example.org> 写道：",
        "2022年1月1日(金) 9:00 田中太郎 <taro@example.org>:",
        "2016-10-24 15:36 GMT+02:00 Foo Bar <\nfoo@example.org>:",
        "2013/7/20 sam via Forum <sam@example.org>",
        "At 6/16/2016 08:32 PM, you wrote:",
        "---- On Tue, 22 Dec 2015 14:17:36 +0530 Sam&lt;sam@example.org&gt; wrote ----",
        "Ann Example <ann@example.org> wrote:",
    ],
)
def test_localised_and_client_specific_attributions(attribution: str) -> None:
    reply = split_reply(top_post(attribution))
    assert reply.body == "The new text."
    assert reply.quoted.startswith(attribution)


def test_attribution_needs_a_date_or_an_address() -> None:
    text = "Ensuring the header is not greedy.\n\nOn this day\n\nI wrote something\n\nwhich was interesting."
    assert split_reply(text).body == text


def test_sentence_starting_with_on_is_text() -> None:
    text = "On your remote host you can run:\n\n    telnet 127.0.0.1 52698\n\nThat should work."
    assert split_reply(text).body == text


# -------------------------------------------------------------------------------------- header blocks


@pytest.mark.parametrize(
    "block",
    [
        "From: Ann Example <ann@example.org>\nSent: Thursday, 28 January 2016 8:16 p.m.\nTo: Bob\nSubject: Hello",
        "*From:* Ann Example\n*Sent:* 2016-01-27\n*To:* bob@example.org\n*Subject:* Are you using Outlook?",
        "Von: Ann Example <ann@example.org>\nGesendet: Donnerstag, 11. Februar 2016 11:23\nAn: Bob\nBetreff: Hallo",
        "De : Ann Example\nEnvoyé : jeudi 11 février 2016 11:23\nÀ : Bob\nObjet : Bonjour",
        'De: "Miguel" <miguel@example.org>\nEnviado: 16/02/2016 14:53\nPara: Bob\nAsunto: Hola',
        "Da: Ann\nData: giovedì, 8 ottobre 2015 15:26\nA: Bob\nOggetto: Test",
        "Från: Ann [mailto:ann@example.org]\nSkickat: den 5 juni 2017 12:22\nTill: bob@example.org\nÄmne: Foton",
        "Fra: Hanne <hanne@example.org>\nSendt: 24. november 2025 09:30\nTil: Søren\nEmne: Filerne",
        "Od: Jan <jan@example.org>\nWysłano: środa, 1 marca 2023 12:00\nDo: Anna\nTemat: Test",
        "From: Ann <ann@example.org>\nDate: Monday, February 8, 2016 11:44 AM\nTo: Bob\nSubject: Long subject\n"
        "that wraps",
        "From: Ann Sent: Monday, 8 February 2016 To: Bob Subject: Hello",
    ],
)
def test_mail_header_blocks(block: str) -> None:
    reply = split_reply(f"My answer.\n\n{block}\n\nThe old message.\n")
    assert reply.body == "My answer."
    assert reply.quoted.startswith(block.split("\n")[0])
    assert reply.quoted.endswith("The old message.")


def test_outlook_separator_above_header_block_is_quoted() -> None:
    text = "Reply from Outlook!\n" + "_" * 32 + "\nFrom: Ann\nSent: today 10:00\nTo: Bob\nSubject: Hi\n\nOld"
    reply = split_reply(text)
    assert reply.body == "Reply from Outlook!"
    assert reply.quoted.startswith("________________________________\nFrom: Ann")


def test_two_field_lines_are_not_a_header_block() -> None:
    text = "Please update the form.\n\nFrom: the office\nTo: everyone\n\nThanks for reading."
    assert split_reply(text).body == text


@pytest.mark.parametrize(
    "marker",
    [
        "-----Original Message-----",
        "-------- Original Message --------",
        "*-------- Original Message --------*",
        "---------- Forwarded message ---------",
        "-----Ursprüngliche Nachricht-----",
        "-----Mensaje original-----",
        "-----Oprindelig meddelelse-----",
        "Begin forwarded message:",
    ],
)
def test_original_and_forwarded_message_markers(marker: str) -> None:
    reply = split_reply(f"Foo\n\n{marker}\nFrom: Ann <ann@example.org>\nSubject: Hi\n\nTHE END.")
    assert reply.body == "Foo"
    assert reply.quoted.startswith(marker)


def test_forward_without_new_text_keeps_the_forwarded_text() -> None:
    text = (
        "---------- Forwarded message ----------\nFrom: Ann <ann@example.org>\nDate: Thu, Jan 28, 2016 at 4:00 PM\n"
        "Subject: Something\nTo: info@example.org\n\n\nThis is a forwarded email. And just that."
    )
    reply = split_reply(text)
    assert reply.body == "This is a forwarded email. And just that."
    assert reply.quoted.startswith("---------- Forwarded message ----------\nFrom: Ann")


def test_apple_mail_forward_in_quotes() -> None:
    text = "Forwarded from Apple Mail.\n\n> Begin forwarded message:\n>\n> From: Ann <ann@example.org>\n> Text"
    reply = split_reply(text)
    assert reply.body == "Forwarded from Apple Mail."
    assert reply.quoted.startswith("> Begin forwarded message:")


def test_apple_mail_quoted_attribution() -> None:
    text = "Sounds good.\n\n> On 28 Jan 2016, at 19:04, Ann <ann@example.org> wrote:\n>\n> Did you?"
    assert split_reply(text).body == "Sounds good."


# ---------------------------------------------------------------------------------------------- quotes


def test_trailing_quote_is_quoted() -> None:
    reply = split_reply("Agreed.\n\n> Shall we meet?\n> At ten?")
    assert reply == Reply("Agreed.", "> Shall we meet?\n> At ten?", "")


def test_message_of_only_quotes_keeps_them() -> None:
    assert split_reply("> Email with only quote.\n").body == "> Email with only quote."


def test_quoted_thread_with_nothing_new_is_all_quoted() -> None:
    text = "> On Thu, Apr 30, 2020 at 10:07 AM, Ann <ann@example.org> wrote:\n>\n>> Hello\n"
    reply = split_reply(text)
    assert reply.body == ""
    assert reply.quoted == text.strip()


def test_quote_then_answer_keeps_both() -> None:
    text = "> This is a quote.\n\nAnd this is my answer."
    assert split_reply(text).body == text


def test_inline_answers_keep_the_quotes_and_drop_the_attribution() -> None:
    text = (
        "Before.\nOn Tue, 2011-03-01 at 18:02 +0530, Ann wrote:\n> Question one?\n\nAnswer one.\n\n"
        "> Question two?\n\nAnswer two.\n\n> Trailing quote\n"
    )
    reply = split_reply(text)
    assert reply.body == "Before.\n> Question one?\n\nAnswer one.\n\n> Question two?\n\nAnswer two."
    assert reply.quoted == "On Tue, 2011-03-01 at 18:02 +0530, Ann wrote:\n\n> Trailing quote"


def test_bottom_post_below_attribution_and_quote() -> None:
    text = "On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\n\nHello\n"
    reply = split_reply(text)
    assert reply.body == "Hello"
    assert reply.quoted == "On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi"


def test_supercite_initials_are_quotes() -> None:
    text = "My answer.\n\nC> their text\nC> more of it\n"
    assert split_reply(text).body == "My answer."


# ------------------------------------------------------------------------------------------ signatures


@pytest.mark.parametrize("delimiter", ["-- ", "--", "__", "_______________________"])
def test_signature_after_delimiter(delimiter: str) -> None:
    reply = split_reply(f"The message.\n\n{delimiter}\nAnn Example\nExample Corp\n")
    assert reply.body == "The message."
    assert reply.signature.endswith("Ann Example\nExample Corp")
    assert "-- " not in reply.signature.split("\n")


def test_signature_delimiter_in_the_middle_of_a_line_is_text() -> None:
    text = "Hi there!\n\nAnd here is a fix -- this is not a signature.\n\nkthxbai"
    assert split_reply(text) == Reply(text, "", "")


def test_signature_between_reply_and_history() -> None:
    text = (
        "Forgot to add: MIT.\n\n--\nJan Kowalski\n\nOn Tue, Jul 14, 2015 at 00:25, Ann <ann@example.org> wrote:\n> Hi"
    )
    reply = split_reply(text)
    assert reply == Reply(
        "Forgot to add: MIT.", "On Tue, Jul 14, 2015 at 00:25, Ann <ann@example.org> wrote:\n> Hi", "Jan Kowalski"
    )


def test_signature_below_the_quoted_history_is_the_senders() -> None:
    text = "Will do.\n\nAnn <ann@example.org> schrieb:\n> Old text\n>\n\n--\nSent with K-9 Mail."
    reply = split_reply(text)
    assert reply.body == "Will do."
    assert reply.signature == "Sent with K-9 Mail."


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Sent from my Android",
        "Sent from my Verizon Wireless BlackBerry",
        "Sent from my cell, please excuse any typos.",
        "Sent from Outlook Mobile<https://example.org>",
        "Sent with Airmail",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Get [Outlook for Android](https://aka.ms/ghei36)",
        "Envoyé de mon iPhone",
        "Envoyé depuis mon iPad",
        "Von meinem iPhone gesendet",
        "Diese Nachricht wurde von meinem Android-Mobiltelefon mit K-9 Mail gesendet.",
        "Enviado desde mi iPhone",
        "Inviato da iPhone",
        "Verzonden vanaf mijn iPhone",
        "Sendt fra min iPad",
        "Skickat från min iPhone",
        "Wysłane z mojego iPhone'a",
        "Отправлено с iPhone",
        "從我的 iPhone 傳送",
        "iPhoneから送信",
        "(Sent from mobile device)",
    ],
)
def test_mobile_footers_are_signature(footer: str) -> None:
    assert split_reply(f"Short answer.\n\n{footer}\n") == Reply("Short answer.", "", footer)


def test_sent_from_in_a_sentence_is_text() -> None:
    text = "Here is another email\n\nSent from my desk, is much easier than my mobile phone."
    assert split_reply(text).body == text


def test_mobile_footer_before_the_history() -> None:
    text = (
        "Thank you.\n\nSent from Outlook Mobile\n\n\nOn Sun, Feb 7, 2016 at 12:12 AM, Ann <ann@example.org> wrote:\nHi"
    )
    assert split_reply(text) == Reply(
        "Thank you.", "On Sun, Feb 7, 2016 at 12:12 AM, Ann <ann@example.org> wrote:\nHi", "Sent from Outlook Mobile"
    )


@pytest.mark.parametrize(
    "closing", ["Thanks,\nAnn", "Best regards,\n\n//Jef", "Cheers", "Mit freundlichen Grüßen\nMax"]
)
def test_bare_sign_off_stays_in_the_body(closing: str) -> None:
    text = f"The answer is yes.\n\n{closing}"
    assert split_reply(text).body == text


def test_sign_off_with_a_contact_block_is_signature() -> None:
    text = "The answer is yes.\n\nBest regards,\nAnn Example\nHead of Things, Example Corp\n+49 30 1234567\n"
    reply = split_reply(text)
    assert reply.body == "The answer is yes."
    assert reply.signature == "Best regards,\nAnn Example\nHead of Things, Example Corp\n+49 30 1234567"


def test_contact_block_without_sign_off_is_signature() -> None:
    text = "See you there.\n\nGina Example\ngina@example.com\n(555) 346-9947\nwww.example.com"
    assert split_reply(text) == Reply(
        "See you there.", "", "Gina Example\ngina@example.com\n(555) 346-9947\nwww.example.com"
    )


def test_links_at_the_end_are_not_a_contact_block() -> None:
    text = "Here is what I found.\n\nUseful links\nhttps://example.org/a\nhttps://example.org/b"
    assert split_reply(text).body == text


# ---------------------------------------------------------------------------------------------- layout


def test_code_fence_protects_delimiter_like_lines() -> None:
    text = "Code:\n\n```\n# comment\n####\n--\n> not a quote\n```\n\nEnd of the email."
    assert split_reply(text).body == text


def test_windows_line_endings_and_surrounding_blank_lines() -> None:
    reply = split_reply("\r\n\r\nEmail with\r\nwindows\r\nendings\r\n\r\n")
    assert reply.body == "Email with\nwindows\nendings"


def test_keeps_indentation_and_inner_blank_lines() -> None:
    text = "Formatting and\n\nspaces\n\n\n    - Item #1\n    - Item #2"
    assert split_reply(text).body == text


# ---------------------------------------------------------------------------------------------- corpora


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trim_corpus", REPO / "bench" / "trim_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_discourse_corpus_score() -> None:
    folder = corpus("discourse-email_reply_trimmer")
    bench = load_bench()
    cases = bench.load_cases(folder)
    wrong = bench.score(bench.ours, cases)
    assert len(cases) == 64
    assert len(cases) - len(wrong) >= 56, wrong


GITHUB = {
    "correct_sig.txt": ("this is an email with a correct -- signature.", "rick"),
    "email_1_3.txt": (
        "Oh thanks.\n\nHaving the function would be great.\n\n-Abhishek Kona",
        "_" * 47 + "\nriak-users mailing list\nriak-users@lists.basho.com\n"
        "http://lists.basho.com/mailman/listinfo/riak-users_lists.basho.com",
    ),
    "email_1_4.txt": ("Awesome! I haven't had another problem with it.", ""),
    "email_1_6.txt": ("I get proper rendering as well.", "Sent from a magnificent torch of pixels"),
    "email_1_7.txt": (":+1:", ""),
    "email_2_1.txt": ("Outlook with a reply", ""),
    "email_2_2.txt": ("Outlook with a reply directly above line", ""),
    "email_2_3.txt": ("Outlook with a reply directly above line", ""),
    "email_BlackBerry.txt": ("Here is another email", "Sent from my BlackBerry"),
    "email_iPhone.txt": ("Here is another email", "Sent from my iPhone"),
    "email_multi_word_sent_from_my_mobile_device.txt": (
        "Here is another email",
        "Sent from my Verizon Wireless BlackBerry",
    ),
    "email_sent_from_my_not_signature.txt": (
        "Here is another email\n\nSent from my desk, is much easier then my mobile phone.",
        "",
    ),
}


@pytest.mark.parametrize("name", sorted(GITHUB))
def test_github_corpus_exact(name: str) -> None:
    body, signature = GITHUB[name]
    reply = split_reply(read(corpus("github-email_reply_parser") / name))
    assert (reply.body, reply.signature) == (body, signature)


def test_github_corpus_bottom_and_inline_posts() -> None:
    folder = corpus("github-email_reply_parser")
    bottom = split_reply(read(folder / "email_1_2.txt"))
    assert bottom.body.startswith("Hi,\n> Hi folks") and bottom.body.endswith('delete them all individually."')
    assert bottom.quoted.startswith("On Tue, 2011-03-01 at 18:02 +0530, Abhishek Kona wrote:")
    inline = split_reply(read(folder / "email_1_8.txt"))
    assert "I will reply under this one" in inline.body and inline.body.endswith("and under this.")
    assert inline.signature == "Hey there, this is my signature"
    bullets = split_reply(read(folder / "email_bullets.txt"))
    assert bullets.body.endswith("   - how about bullets\n   - and another")
    assert bullets.signature == "*Joe Smith | Director, Product Management*"


@pytest.mark.parametrize("name", ["email_long_quote.txt", "pathological.txt"])
def test_github_corpus_performance_cases(name: str) -> None:
    text = read(corpus("github-email_reply_parser") / name)
    started = time.perf_counter()
    reply = split_reply(text)
    assert time.perf_counter() - started < 2
    assert not lost_lines(text, reply)


MAIL_PARSER_REPLY = {
    "email_danish_1.txt": "Hej Peter,\n\nTak for din mail. Det lyder godt.\n\nMed venlig hilsen\nAnders Andersen",
    "email_danish_2.txt": "Hej Hanne,\n\nJeg har modtaget filerne.\n\nHilsen\nSøren",
    "email_danish_3.txt": "Hej,\n\nSvar.",
    "email_danish_4.txt": "Hej,\n\nSvar.",
    "email_gmail.txt": "This is a test for inbox replying to a github message.",
    "email_headers_no_delimiter.txt": "And another reply!",
    "email_nl_1_2.txt": "Outlook met een antwoord",
    "email_pl_1_2.txt": "Czesc Anno,\n\nJak się masz?\n\nPozdrawiam,\nJan",
    "email_3_1.txt": "First reply.\n\nThis is fairly common; nothing too hard here!",
    "multi_header.txt": "No problem. I’ll just start a new order.",
    "email_sv_anon_1.txt": "Hej\n\nBerättar gärna. Enklast är om vi kan ta ett kort samtal under dagen. Jag är\n"
    "flexibel fram till kl 15 idag.",
}


@pytest.mark.parametrize("name", sorted(MAIL_PARSER_REPLY))
def test_mail_parser_reply_corpus(name: str) -> None:
    reply = split_reply(read(corpus("mail-parser-reply") / name))
    assert reply.body == MAIL_PARSER_REPLY[name]


def test_mail_parser_reply_corpus_signatures() -> None:
    folder = corpus("mail-parser-reply")
    assert split_reply(read(folder / "email_sv_anon_1.txt")).signature == "Mvh,\nPerson A\n070-0000000"
    assert split_reply(read(folder / "outlook.txt")).signature == "Get Outlook for iOS<https://outlook.com/mobile>"
    japanese = split_reply(read(folder / "email_ja_1_2.txt"))
    assert "それでは 11:00 にお待ちしております。" in japanese.body and "かしこまりました" in japanese.quoted


def plain_part(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def test_talon_standard_replies() -> None:
    folder = corpus("mailgun-talon") / "standard_replies"
    bodies = {path.name: split_reply(plain_part(path)).body.strip() for path in sorted(folder.glob("*.eml"))}
    assert bodies and set(bodies.values()) == {"Hello"}, bodies


def corpus_texts() -> list[Path]:
    paths = []
    for name in ("discourse-email_reply_trimmer/emails", "github-email_reply_parser", "mail-parser-reply"):
        paths += sorted((CORPUS / name).glob("*.txt"))
    return paths


def test_corpora_lose_no_line() -> None:
    paths = corpus_texts()
    if not paths:
        skip_or_fail("shared corpora are not available")
    for path in paths:
        text = read(path)
        assert not lost_lines(text, split_reply(text)), path.name


# -------------------------------------------------------------------------------------------- properties

TRICKY_LINES = [
    "",
    " ",
    "--",
    "-- ",
    "__",
    "-----",
    "> quoted",
    ">",
    "C> supercite",
    "On Mon, Feb 1, 2016 at 4:58 AM, Ann <ann@example.org> wrote:",
    "On Mon, Feb 1, 2016 at 4:58 AM, Ann <ann@example.org>",
    "wrote:",
    "> wrote:",
    "Am 03.02.2016 schrieb Max <",
    "max@example.org>:",
    "From: Ann",
    "Sent: Monday 10:00",
    "To: Bob",
    "Subject: Hi",
    "-----Original Message-----",
    "Begin forwarded message:",
    "Sent from my iPhone",
    "Best regards,",
    "Ann Example",
    "+49 30 1234567",
    "ann@example.org",
    "```",
    "\ufeff",
    "ᐧ",
    "Plain text line.",
]
email_like = st.lists(st.one_of(st.sampled_from(TRICKY_LINES), st.text(max_size=40)), max_size=40).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda eol: eol.join(lines))
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), email_like))
def test_never_raises_and_loses_nothing(text: str) -> None:
    reply = trim._split(text)  # the unguarded core: a bug must show here, not hide behind the guard
    assert isinstance(reply, Reply)
    assert split_reply(text) == reply
    assert not lost_lines(text, reply)
    assert not reply.body or reply.body.split("\n")[-1].strip()
