"""Subjects compared as people see them: intranet/subjects.py (pure)."""

from __future__ import annotations

import pytest

from intranet.subjects import bare_subject, names_title, subject_words


def test_words_of_a_subject_leave_out_prefixes_tags_punctuation_and_case() -> None:
    assert subject_words("[incidents] RE: AW: Sv: Incident review <x> [incidents]") == "incident review x"
    assert subject_words("Re[2]: WG: Fwd:  Rota—March!") == "rota march"
    assert subject_words("ＩＮＣＩＤＥＮＴ review") == "incident review"  # full-width letters
    assert bare_subject("RE:  Re: The Rota") == "the rota"


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Incident review <x>",
        "RE: incident review (x)",
        "AW: [incidents] Incident review <x>",
        "Sv: Incident reveiw <x>",  # a typo
        "Re: Follow-up on Incident review <x> please",  # the title inside a longer subject
        "Incident-review x",
    ],
)
def test_a_subject_that_names_the_title(subject: str) -> None:
    assert names_title(subject, "Incident review <x> [incidents]")


@pytest.mark.parametrize(
    ("subject", "title"),
    [
        ("Re: Night shift staffing", "Incident review <x> [incidents]"),
        ("Re: Rota", "Rota for March"),  # a short common word is not the title
        ("Re: Incident", "Incident review <x>"),
        ("Re: Handover", "Handover at night"),
        ("", "Incident review"),
        ("Re: Incident review", ""),
    ],
)
def test_a_subject_that_does_not_name_the_title(subject: str, title: str) -> None:
    assert not names_title(subject, title)


def test_a_short_title_counts_only_when_it_is_the_whole_subject() -> None:
    assert names_title("Re: Rota", "Rota")
    assert not names_title("Re: Rota for the spring", "Rota")
