"""Material's templates compiled once per process, and kept on disk for the next process.

Jinja compiles a template to Python code the first time an environment loads it. MkDocs makes an
environment for each tree of each build, so without this every tree compiled the same templates
again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from types import CodeType
from typing import Any

import jinja2

log = logging.getLogger(__name__)


class SharedCompiled(jinja2.BytecodeCache):
    """Templates compiled once per process, for every tree's environment, and kept on disk for the next.

    Each tree, and each full build, sets MkDocs up anew with a Jinja environment of its own, which
    compiled Material's templates again: a third of a full build of the demo. A template is taken
    from here only when its name, file and source (Jinja compares a checksum) and every setting of
    the environment that shapes the compiled code are the same. One entry per template and set of
    settings: an edited template (a theme override) replaces its entry. Compiling the 75 templates a
    page uses took 0.2-0.4 s of every process's first build: they are also kept in Jinja's own cache
    folder (in the temporary folder, private to the user, checked by Jinja; its entries carry the
    Jinja and Python versions and the source's checksum, and are replaced atomically).
    """

    def __init__(self) -> None:
        self._code: dict[tuple[str, tuple[Any, ...]], tuple[str, CodeType]] = {}
        self._disk: _CompiledOnDisk | None | bool = False  # False: not yet looked for

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        settings = _compile_settings(bucket.environment)
        checksum, code = self._code.get((bucket.key, settings), ("", None))
        bucket.code = code if checksum == bucket.checksum else None
        disk = self._on_disk()
        if bucket.code is None and disk is not None:
            disk.load_bytecode(bucket)
            if bucket.code is not None:
                self._code[bucket.key, settings] = (bucket.checksum, bucket.code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.code is not None:
            self._code[bucket.key, _compile_settings(bucket.environment)] = (bucket.checksum, bucket.code)
            disk = self._on_disk()
            if disk is not None:
                try:
                    disk.dump_bytecode(bucket)
                except OSError as exc:  # a full disk: compiled again next time
                    log.debug("keeping compiled templates: %s", exc)

    def _on_disk(self) -> _CompiledOnDisk | None:
        if self._disk is False:
            try:
                self._disk = _CompiledOnDisk()
            except (OSError, RuntimeError) as exc:  # no private folder to be had: memory only
                log.debug("no folder for compiled templates: %s", exc)
                self._disk = None
        assert self._disk is not True
        return self._disk


class _CompiledOnDisk(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates, one file per template and set of compile settings."""

    def _get_cache_filename(self, bucket: jinja2.bccache.Bucket) -> str:
        settings = repr(_compile_settings(bucket.environment))
        digest = hashlib.sha256(f"{bucket.key}\0{settings}".encode()).hexdigest()[:40]
        return os.path.join(self.directory, f"__intranet_{digest}.cache")

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if " at 0x" not in repr(_compile_settings(bucket.environment)):  # (settings named only by address)
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if " at 0x" not in repr(_compile_settings(bucket.environment)):
            super().dump_bytecode(bucket)


def _compile_settings(env: jinja2.Environment) -> tuple[Any, ...]:
    """What of ``env`` the compiled code of a template depends on (its syntax, extensions and options)."""
    return (
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        tuple(sorted(env.extensions)),
        getattr(env, "newstyle_gettext", None),
        env.optimized,
        env.is_async,
        env.autoescape,
        env.finalize,
        env.undefined,
        env.code_generator_class,
    )


COMPILED = SharedCompiled()
