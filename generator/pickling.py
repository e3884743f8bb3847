"""Posts in the files one process writes for another: a full build's job and result
(:mod:`generator.background`) and the trees saved at a clean stop (:mod:`generator.resume`).

- :func:`dump_posts` writes many posts a few thousand to a pickle (:data:`CHUNK`), and
  :func:`load_posts` gives them back a pickle at a time: a pickle remembers every object it wrote or
  read until it is done, and reading a hundred thousand posts with their text at once left 130 MB
  behind for good.
- :class:`Naming` pickles what refers to posts (and, given the content, its people and communities)
  that the reader holds already, by their paths (handles, slugs); :class:`Named` reads it with the
  reader's own objects.
"""

from __future__ import annotations

import copyreg
import pickle
from collections.abc import Callable, Iterator
from typing import IO, Any

from intranet.format import Community, Intranet, Person, Post

CHUNK = 5000  # posts a pickle of their own


def dump_posts(handle: IO[bytes], posts: list[Post], reduce: Callable[[Any], Any] | None = None) -> None:
    """``posts``, their count first, :data:`CHUNK` to a pickle (each post with ``reduce`` if given)."""
    pickle.dump(len(posts), handle)
    for start in range(0, len(posts), CHUNK):
        pickler = pickle.Pickler(handle, protocol=pickle.HIGHEST_PROTOCOL)
        if reduce is not None:
            pickler.dispatch_table = {**copyreg.dispatch_table, Post: reduce}
        pickler.dump(posts[start : start + CHUNK])


def load_posts(handle: IO[bytes]) -> Iterator[list[Post]]:
    """What :func:`dump_posts` wrote, a pickle at a time (written by this program: trusted)."""
    count: int = pickle.load(handle)  # noqa: S301
    while count > 0:
        chunk: list[Post] = pickle.load(handle)  # noqa: S301
        yield chunk
        count -= len(chunk) or count


class Naming(pickle.Pickler):
    """Pickles ``posts`` (path -> post) by path only, and with ``intranet`` its people and communities
    by handle and slug."""

    def __init__(self, file: IO[bytes], posts: dict[str, Post], intranet: Intranet | None = None) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._posts = posts
        self._intranet = intranet

    def persistent_id(self, obj: Any) -> tuple[str, str] | None:
        if isinstance(obj, Post) and self._posts.get(obj.relpath) is obj:
            return ("post", obj.relpath)
        if self._intranet is None:
            return None
        if isinstance(obj, Person) and self._intranet.people.get(obj.handle) is obj:
            return ("person", obj.handle)
        if isinstance(obj, Community) and self._intranet.communities.get(obj.slug) is obj:
            return ("community", obj.slug)
        return None


class Named(pickle.Unpickler):
    """Reads what :class:`Naming` wrote, with this process's ``posts`` (and ``intranet``) for the names."""

    def __init__(self, file: IO[bytes], posts: dict[str, Post], intranet: Intranet | None = None) -> None:
        super().__init__(file)
        self._posts = posts
        self._intranet = intranet

    def persistent_load(self, pid: Any) -> Any:
        kind, key = pid
        if kind == "post":
            return self._posts[key]
        if kind == "person" and self._intranet is not None:
            return self._intranet.people[key]
        if kind == "community" and self._intranet is not None:
            return self._intranet.communities[key]
        raise pickle.UnpicklingError(f"unknown reference {kind!r}")
