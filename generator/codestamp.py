"""Which code this process runs: a digest of the project's source files and of the versions of Python,
MkDocs and Material, taken once, when first asked.

A full build's process is started fresh from the files on disk (:mod:`generator.background`), and a
restart takes back trees saved at the last stop (:mod:`generator.resume`): both must be the code
that made what they read. Code replaced on disk while ``intranet up`` runs (an upgrade before its
restart) gives another digest, so the build process refuses to start and saved trees are not taken
back, instead of reading what other code wrote. ``intranet up`` asks as it starts
(:class:`generator.builder.Builder`), before the files can change under it.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path

import material
import mkdocs

import intranet as core_package

SUFFIXES = {".py", ".html", ".js", ".css", ".yml", ".json", ".txt"}


@functools.cache
def code_digest() -> str:
    """The digest of the code this process runs (the first call's: see the module's docstring)."""
    digest = hashlib.sha256()
    for package in (Path(__file__).parent, Path(core_package.__file__).parent):
        for path in sorted(package.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                digest.update(str(path.relative_to(package.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"{sys.version}\0{mkdocs.__version__}\0{getattr(material, '__version__', '')}\0".encode())
    return digest.hexdigest()
