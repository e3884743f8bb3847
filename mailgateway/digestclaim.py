"""The day's digest when gateways share a remote: sent once, by whichever claims it, listing every
post either of them mailed.

Each gateway's fan-out claims (:mod:`mailgateway.claims`) carry the post's digest entry, so the
remote holds the list of every post mailed, whoever mailed it. At the digest time a gateway claims
``refs/intranet/claims/digest/<day>/all``; the claim says which fan-out claims that digest covers:
those that no earlier digest claim covers. The gateway that holds the claim queues the digest of
their entries; the other sends nothing that day. A gateway that crashed after claiming finds its
own claim and queues the same digest again (its mails are named by day, community and recipient,
so nobody gets it twice).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from .claims import PREFIX, Claims, claim_ref

log = logging.getLogger(__name__)


def waiting(claims: Claims) -> int | None:
    """How many mailed posts no digest has listed yet; None if the remote cannot be reached."""
    fanouts = claims.read([f"{PREFIX}/fanout/*"])
    digests = claims.read([f"{PREFIX}/digest/*"])
    if fanouts is None or digests is None:
        return None
    return len(set(fanouts) - _covered(digests))


def _covered(digests: dict[str, tuple[str, str]]) -> set[str]:
    return {line for _, text in digests.values() for line in text.split()}


def digest_entries(claims: Claims, day: str) -> tuple[list[dict[str, Any]], bool] | None:
    """(The entries of ``day``'s digest, whether this gateway sends it), or None if the remote is away."""
    ref = claim_ref("digest", dt.date.fromisoformat(day), "all")
    fanouts = claims.read([f"{PREFIX}/fanout/*"])
    digests = claims.read([f"{PREFIX}/digest/*"])
    if fanouts is None or digests is None:
        return None
    if ref in digests:  # claimed already: by this gateway before a crash, or by the other
        committer, body = digests[ref]
        if committer != claims.committer.lower():
            return [], False
        covered = body.split()
    else:
        covered = sorted(set(fanouts) - _covered(digests))
        held = claims.claim({ref: "\n".join(covered)})
        if held is None:
            return None
        if not held[ref]:
            log.info("digest %s: claimed by another gateway; not sent here", day)
            return [], False
    entries = []
    for fanout in covered:
        try:
            entries.append(json.loads(fanouts[fanout][1]))
        except (KeyError, ValueError):  # removed since (older than redelivery_days), or not an entry
            continue
    return entries, True
