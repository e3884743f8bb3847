"""Claims on the remote: which gateway does something that must be done once, when two could.

With more than one gateway on one remote (two mail exchangers), one post can reach both: a
message the sender's MTA delivers again to the other exchanger after the first one crashed, or a
redelivery after the other already published it. Both then have a fan-out job for it. Before a
gateway mails a post to subscribers it claims the post on the remote; the one whose claim is
taken mails it, the other skips it.

A claim is a ref on the remote, ``refs/intranet/claims/<kind>/<day>/<key>``, made by a push that
may only create it (``--force-with-lease=<ref>:``, an empty expected value): the remote's atomic
ref update decides between two pushes at the same moment. The ref points at a commit that names the
gateway (the same commit for every claim it makes, made once: see :func:`mark`), so a gateway that
claimed and then crashed before it was done finds its own claim when it runs the job again, and
goes on; a claim of another gateway's means skip. ``<day>`` is a day the claim is about (a post's
own date, the same for both gateways): claims of days more than ``redelivery_days`` ago are removed
(:meth:`Claims.prune`), as no message is redelivered that late (and the ref list every push reads
stays short).

Claims need the remote: while it cannot be reached nothing is claimed, and the jobs wait
(mail is still taken and committed; see :mod:`mailgateway.pusher`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import pygit2

from intranet.gitremote import ORIGIN, Checkout, last_line

log = logging.getLogger(__name__)

PREFIX = "refs/intranet/claims"
BATCH = 200  # claims per push (a command line each)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def claim_ref(kind: str, day: dt.date, key: str) -> str:
    return f"{PREFIX}/{kind}/{day.isoformat()}/{key}"


def mark(repo: pygit2.Repository, committer: str) -> str:
    """The commit that says "claimed by ``committer``": the same object each time for one gateway."""
    when = pygit2.Signature("intranet", committer or "gateway@invalid", 0, 0)
    tree = repo.TreeBuilder().write()
    message = f"intranet: claims of {committer or 'the gateway'}\n"
    return str(repo.create_commit(None, when, when, message, tree, []))


class Claims:
    """Claims this gateway makes on the remote of ``checkout``, as ``committer`` (its commits' address)."""

    def __init__(self, checkout: Checkout, committer: str) -> None:
        self.checkout = checkout
        self.committer = committer
        self._mark = ""

    def claim(self, refs: list[str]) -> dict[str, bool] | None:
        """Claim each of ``refs``: True where this gateway holds the claim (now or from before), False
        where another does; None if the remote could not be reached (nothing is known: ask again)."""
        if not self._mark:
            self._mark = mark(self.checkout.repo(), self.committer)
        held: dict[str, bool] = {}
        for start in range(0, len(refs), BATCH):
            batch = refs[start : start + BATCH]
            args = ["push", "--porcelain", "--no-verify", ORIGIN]
            args += [f"--force-with-lease={ref}:" for ref in batch]
            args += [f"{self._mark}:{ref}" for ref in batch]
            result = self.checkout.run(args)
            for line in result.stdout.splitlines():
                flag, _, rest = line.partition("\t")
                ref = rest.split("\t", 1)[0].rpartition(":")[2]
                if ref in batch and flag in ("*", "="):  # made now, or already ours (the same value)
                    held[ref] = True
            unsure = [ref for ref in batch if ref not in held]
            if unsure:
                found = self._values(unsure)
                if found is None:
                    log.warning("claims: the remote cannot be reached (%s)", last_line(result.stderr))
                    return None
                for ref in unsure:
                    if ref not in found:  # refused, and not there: (a hook?) ask again later
                        log.warning("claims: %s was not made: %s", ref, last_line(result.stderr))
                        return None
                    held[ref] = found[ref] == self._mark
        return held

    def prune(self, kind: str, today: dt.date, days: int) -> int:
        """Remove this kind's claims of days more than ``days`` before ``today``; how many."""
        found = self._values([f"{PREFIX}/{kind}/*"])
        if not found:
            return 0
        oldest = (today - dt.timedelta(days=days)).isoformat()
        old = [ref for ref in found if _DAY.match(day := ref.split("/")[4]) and day < oldest]
        for start in range(0, len(old), BATCH):
            self.checkout.run(
                ["push", "--porcelain", "--no-verify", ORIGIN, *(f":{ref}" for ref in old[start : start + BATCH])]
            )
        if old:
            log.info("claims: removed %d %s claims older than %d days", len(old), kind, days)
        return len(old)

    def _values(self, patterns: list[str]) -> dict[str, str] | None:
        """The remote's refs matching ``patterns`` (ref -> object), or None if it cannot be reached."""
        result = self.checkout.run(["ls-remote", ORIGIN, *patterns])
        if result.returncode != 0:
            return None
        found = {}
        for line in result.stdout.splitlines():
            sha, _, ref = line.partition("\t")
            found[ref] = sha
        return found
