"""Confidentiality disclaimers that organisations' mail servers and clients add below a message (pure).

Corporate mail (Outlook above all, the norm for hospitals and colleges) ends with a paragraph such
as "This email and any attachments are confidential and intended solely for ...". It is not what
the sender wrote to the community: like a signature it is set aside (folded on the page), never
lost. :func:`opens_disclaimer` tells whether a paragraph starts like one, in the languages our
users write in.
"""

from __future__ import annotations

import re

# How such paragraphs open: English, German, French, Spanish, Dutch, Italian, Portuguese, Swedish.
_OPENERS = re.compile(
    r"""^[\W_]{0,6}(?:
        (?:confidentiality|privacy|legal|important|e-?mail)\s+(?:notice|disclaimer|warning)
      | disclaimer\b | confidential(?:ity)?\s*[:\-–]
      | (?:this|the\ information\ (?:contained\ )?in\ this)\s+(?:e-?mail|message|communication|transmission)
            \b[^.]{0,120}?\b(?:confidential|privileged|intended\ (?:solely|only|exclusively)|proprietary)
      | if\ you\ (?:are\ not|have\ received\ this)\b[^.]{0,80}?\b(?:intended\ recipient|in\ error)
      | (?:diese|die\ in\ dieser)\s+(?:e-?mail|nachricht)\b[^.]{0,120}?\bvertraulich
      | vertraulichkeitshinweis | haftungsausschluss
      | (?:ce|le\ présent)\s+(?:message|courriel|e-?mail)\b[^.]{0,120}?\bconfidentiel
      | avertissement\s*(?:de\ confidentialité)?\s*:
      | (?:este|el\ presente)\s+(?:mensaje|correo)\b[^.]{0,120}?\bconfidencial
      | aviso\s+(?:de\ )?(?:confidencialidad|legal)
      | (?:dit|deze)\s+(?:e-?mail(?:bericht)?|bericht)\b[^.]{0,120}?\bvertrouwelijk
      | (?:questo|il\ presente)\s+(?:messaggio|e-?mail)\b[^.]{0,120}?\b(?:riservat|confidenzial)
      | (?:esta|este)\s+(?:mensagem|e-?mail)\b[^.]{0,120}?\bconfidencia
      | (?:detta|det\ här)\s+(?:e-?(?:post)?meddelande|mejl)\b[^.]{0,120}?\bkonfidentiell
    )""",
    re.IGNORECASE | re.VERBOSE,
)
MAX_CHARS = 3000  # a disclaimer runs to a few paragraphs; more below it is not a disclaimer's


def opens_disclaimer(paragraph: str) -> bool:
    """Whether ``paragraph`` (its first few hundred characters will do) starts a disclaimer."""
    return bool(_OPENERS.match(" ".join(paragraph[:400].split())))
