"""Claims on the remote: which gateway does something that must be done once, when two could.

With more than one gateway on one remote (two mail exchangers), one post can reach both: a
message the sender's MTA delivers again to the other exchanger after the first one crashed, or a
redelivery after the other already published it. Both then have a fan-out job for it. Before a
gateway mails a post to subscribers it claims the post on the remote; the one whose claim is
taken mails it, the other skips it. The day's digest is claimed the same way.

A claim is a ref on the remote, ``refs/intranet/claims/<kind>/<day>/<key>``, made by a push that
may only create it (``--force-with-lease=<ref>:``, an empty expected value): the remote's atomic
ref update decides between two pushes at the same moment. The ref points at a commit (no parent,
an empty tree) whose committer is the gateway's address and whose message says what was claimed
(a post's digest entry, the fan-out claims a digest covered): what the other gateway needs to know
of it. A gateway that claimed and then crashed before it was done finds its own claim when it runs
the job again, and goes on; a claim of another gateway's means skip. Claims of days more than
``redelivery_days`` ago are removed (:meth:`Claims.prune`): no message is redelivered that late,
and the ref list every push reads stays short.

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
SEEN = "refs/intranet/seen"  # the remote's claims as last read, in the checkout
BATCH = 200  # claims per push (a command line each)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def claim_ref(kind: str, day: dt.date, key: str) -> str:
    return f"{PREFIX}/{kind}/{day.isoformat()}/{key}"


def claim_commit(repo: pygit2.Repository, committer: str, body: str) -> str:
    """The commit a claim points at: made by ``committer``, saying ``body``; the same object for the
    same claim (no date), so claiming again after a crash finds it already there."""
    when = pygit2.Signature("intranet", committer or "gateway@invalid", 0, 0)
    tree = repo.TreeBuilder().write()
    message = f"intranet: claimed by {committer or 'the gateway'}\n\n{body}".rstrip("\n") + "\n"
    return str(repo.create_commit(None, when, when, message, tree, []))


class Claims:
    """Claims this gateway makes on the remote of ``checkout``, as ``committer`` (its commits' address)."""

    def __init__(self, checkout: Checkout, committer: str) -> None:
        self.checkout = checkout
        self.committer = committer

    def claim(self, claims: dict[str, str]) -> dict[str, bool] | None:
        """Claim each ref of ``claims`` (ref -> what it says): True where this gateway holds the claim (now
        or from before), False where another does; None if the remote could not be reached (ask again)."""
        repo = self.checkout.repo()
        wanted = {ref: claim_commit(repo, self.committer, body) for ref, body in claims.items()}
        held: dict[str, bool] = {}
        refs = list(wanted)
        for start in range(0, len(refs), BATCH):
            batch = refs[start : start + BATCH]
            args = ["push", "--porcelain", "--no-verify", ORIGIN]
            args += [f"--force-with-lease={ref}:" for ref in batch]
            args += [f"{wanted[ref]}:{ref}" for ref in batch]
            result = self.checkout.run(args)
            for line in result.stdout.splitlines():
                flag, _, rest = line.partition("\t")
                ref = rest.split("\t", 1)[0].rpartition(":")[2]
                if ref in wanted and flag in ("*", "="):  # made now, or there already with our commit
                    held[ref] = True
            unsure = [ref for ref in batch if ref not in held]
            if not unsure:
                continue
            found = self.read(unsure)
            if found is None:
                log.warning("claims: the remote cannot be reached (%s)", last_line(result.stderr))
                return None
            for ref in unsure:
                if ref not in found:  # refused, and not there (a hook?): ask again later
                    log.warning("claims: %s was not made: %s", ref, last_line(result.stderr))
                    return None
                held[ref] = found[ref][0] == self.committer.lower()
        return held

    def read(self, patterns: list[str]) -> dict[str, tuple[str, str]] | None:
        """The remote's claims matching ``patterns`` (refs, or ``<prefix>/*``): ref -> (committer's address,
        what the claim says); None if the remote cannot be reached."""
        listed = self.checkout.run(["ls-remote", ORIGIN, *patterns])
        if listed.returncode != 0:
            return None
        values = {}
        for line in listed.stdout.splitlines():
            sha, _, ref = line.partition("\t")
            if ref:
                values[ref] = sha
        repo = self.checkout.repo()
        missing = [ref for ref, sha in values.items() if pygit2.Oid(hex=sha) not in repo]
        for start in range(0, len(missing), BATCH):  # their objects: fetched into a namespace of our own
            refspecs = [f"+{ref}:{SEEN}/{ref.removeprefix(PREFIX + '/')}" for ref in missing[start : start + BATCH]]
            if self.checkout.run(["fetch", "--quiet", "--no-tags", ORIGIN, *refspecs]).returncode != 0:
                return None
        found = {}
        for ref, sha in values.items():
            commit = repo[sha].peel(pygit2.Commit)
            body = commit.message.partition("\n\n")[2]
            found[ref] = (commit.committer.email.lower(), body)
        return found

    def prune(self, kind: str, today: dt.date, days: int) -> int:
        """Remove this kind's claims of days more than ``days`` before ``today``; how many."""
        listed = self.checkout.run(["ls-remote", ORIGIN, f"{PREFIX}/{kind}/*"])
        if listed.returncode != 0:
            return 0
        oldest = (today - dt.timedelta(days=days)).isoformat()
        refs = [line.split("\t", 1)[1] for line in listed.stdout.splitlines() if "\t" in line]
        old = [ref for ref in refs if _DAY.match(day := ref.split("/")[4]) and day < oldest]
        for start in range(0, len(old), BATCH):
            batch = old[start : start + BATCH]
            self.checkout.run(["push", "--porcelain", "--no-verify", ORIGIN, *(f":{ref}" for ref in batch)])
            seen = [f"{SEEN}/{ref.removeprefix(PREFIX + '/')}" for ref in batch]
            self.checkout.run(["update-ref", "--stdin"], stdin="".join(f"delete {ref}\n" for ref in seen))
        if old:
            log.info("claims: removed %d %s claims older than %d days", len(old), kind, days)
        return len(old)
