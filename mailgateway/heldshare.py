"""Held mail when gateways share a remote: a moderator's reply may reach either of them.

The gateway that holds a message keeps it in its spool (``held/``) and asks the moderators by
mail, with a reply address signed for the message. With two mail exchangers, the reply may reach
the other gateway. So a held message is also put on the remote, as the ref
``refs/intranet/held/<ref>`` (``<ref>``: the one in the reply address, :func:`intranet.addresses.held_ref`)
naming a commit whose tree holds the spool's two files (``message``: the message as spooled;
``info.json``: why it was held). It is never on the branch, so never on the site.

A moderator's decision, at either gateway or at a terminal, first takes the ref away: a push that
deletes it only if it still names the same commit (:meth:`HeldShare.claim`), so of two decisions the
first wins and the second finds nothing held. A gateway without the message fetches it from the
ref first (:meth:`HeldShare.fetch`). Before it deletes the ref, a gateway marks its copy
``<id>.deciding``; after a crash it goes on with the decision it had claimed. While the remote
cannot be reached, a decision is made anyway: publishing is idempotent (the post's path follows from
its Message-ID and its fan-out is claimed, :mod:`mailgateway.claims`), so at worst the sender
hears twice. :meth:`HeldShare.sync`, run after the pusher's fetches, shares what could not be
shared when it was held, and lets go of the copies another gateway decided on.
"""

from __future__ import annotations

import json
import logging

import pygit2

from intranet.addresses import held_ref
from intranet.gitremote import ORIGIN, Checkout, last_line

from .spool import Spool, write_durably

log = logging.getLogger(__name__)

PREFIX = "refs/intranet/held"
SEEN = "refs/intranet/seen/held"  # a held message fetched from the remote, in the checkout
SHARED, DECIDING = ".shared", ".deciding"  # beside a held copy: the commit it is shared as; a decision begun


class HeldShare:
    """The held messages of ``spool``, shared on the remote of ``checkout`` by ``committer``."""

    def __init__(self, checkout: Checkout, spool: Spool, committer: str) -> None:
        self.checkout = checkout
        self.spool = spool
        self.committer = committer

    def share(self, held_id: str) -> bool:
        """Put a held message on the remote (if not there yet); False if it cannot be reached now."""
        held = self.spool.held_dir
        if (held / f"{held_id}{SHARED}").exists():
            return True
        repo = self.checkout.repo()
        tree = repo.TreeBuilder()
        tree.insert("message", repo.create_blob((held / f"{held_id}.msg").read_bytes()), pygit2.GIT_FILEMODE_BLOB)
        tree.insert("info.json", repo.create_blob((held / f"{held_id}.json").read_bytes()), pygit2.GIT_FILEMODE_BLOB)
        who = pygit2.Signature("intranet", self.committer or "gateway@invalid")
        sha = str(repo.create_commit(None, who, who, f"intranet: held {held_id}\n", tree.write(), []))
        ref = f"{PREFIX}/{held_ref(held_id)}"
        result = self.checkout.run(
            ["push", "--porcelain", "--no-verify", f"--force-with-lease={ref}:", ORIGIN, f"{sha}:{ref}"]
        )
        if result.returncode != 0:  # (there already, from a try whose answer was lost?)
            listed = self.checkout.run(["ls-remote", ORIGIN, ref])
            sha = listed.stdout.partition("\t")[0] if listed.returncode == 0 else ""
            if not sha:
                log.warning("held %s: not shared on the remote yet (%s)", held_id, last_line(result.stderr))
                return False
        write_durably(held / f"{held_id}{SHARED}", sha.encode(), self.spool.tmp)
        return True

    def share_pending(self) -> None:
        """Share each held message that is not shared yet (cheap when there is none)."""
        held = self.spool.held_dir
        for path in held.glob("*.json"):
            if not (held / f"{path.stem}{SHARED}").exists():
                self.share(path.stem)

    def fetch(self, ref: str) -> str | None:
        """The held message the reply address ``ref`` names, from the remote into the spool: its id, or
        None if the remote has no such message (decided already) or cannot be reached."""
        if not ref.isalnum():
            return None
        result = self.checkout.run(["fetch", "--quiet", "--no-tags", ORIGIN, f"+{PREFIX}/{ref}:{SEEN}/{ref}"])
        if result.returncode != 0:
            return None
        repo = self.checkout.repo()
        commit = repo.references[f"{SEEN}/{ref}"].peel(pygit2.Commit)
        held_id = commit.message.split()[2]
        if held_ref(held_id) != ref or "/" in held_id or held_id.startswith("."):
            return None
        info = json.loads(repo[commit.tree["info.json"].id].peel(pygit2.Blob).data)
        held = self.spool.held_dir
        write_durably(held / f"{held_id}.msg", repo[commit.tree["message"].id].peel(pygit2.Blob).data, self.spool.tmp)
        write_durably(held / f"{held_id}.json", json.dumps(info, indent=1).encode(), self.spool.tmp)
        write_durably(held / f"{held_id}{SHARED}", str(commit.id).encode(), self.spool.tmp)
        log.info("held %s: taken from the remote (held by another gateway)", held_id)
        return held_id

    def claim(self, held_id: str) -> bool:
        """Take the held message off the remote before deciding on it: False if another gateway did
        first (then this copy goes); True otherwise (also when the remote cannot be reached)."""
        held = self.spool.held_dir
        marker, shared = held / f"{held_id}{DECIDING}", held / f"{held_id}{SHARED}"
        if marker.exists() or not shared.exists():
            return True  # a decision this gateway began before a crash; or never shared
        write_durably(marker, b"", self.spool.tmp)
        ref = f"{PREFIX}/{held_ref(held_id)}"
        lease = f"--force-with-lease={ref}:{shared.read_text().strip()}"
        result = self.checkout.run(["push", "--porcelain", "--no-verify", lease, ORIGIN, f":{ref}"])
        if result.returncode == 0:
            return True
        if any(line.startswith("!") for line in result.stdout.splitlines()):  # gone, or not ours
            log.info("held %s: decided on another gateway first", held_id)
            self.spool.forget_held(held_id)
            return False
        log.warning("held %s: the remote cannot be reached; deciding here (%s)", held_id, last_line(result.stderr))
        return True

    def sync(self) -> None:
        """Share what is not shared yet; let go of the copies whose ref another gateway took away."""
        self.share_pending()
        listed = self.checkout.run(["ls-remote", ORIGIN, f"{PREFIX}/*"])
        if listed.returncode != 0:
            return
        there = {line.rpartition("/")[2] for line in listed.stdout.splitlines()}
        held = self.spool.held_dir
        for info in list(self.spool.held()):
            held_id = info["id"]
            if not (held / f"{held_id}{SHARED}").exists():
                continue
            if held_ref(held_id) not in there and not (held / f"{held_id}{DECIDING}").exists():
                log.info("held %s: decided on another gateway; this copy goes", held_id)
                self.spool.forget_held(held_id)
