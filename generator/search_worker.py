"""The search worker, ``templates/search-worker.js``, written over Material's own; and its page script.

Material for MkDocs' search worker downloads one ``search_index.json`` holding
every page's text. Ours is a drop-in for it (the same messages, so the theme's
search box, results, suggestions and page highlighting look and behave as
before) that fetches only the files of :mod:`generator.search_format` a query
needs. The build puts :func:`worker_script` at :func:`worker_relpath` in each
tree.

The theme counts the results it is sent, and the worker sends one page of
them: ``templates/search-results.js`` (:data:`RESULTS_SCRIPT` in each tree, on
every page after the theme's bundle) shows the count the worker reports and
asks it for the next pages.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.util import find_spec
from pathlib import Path

WORKER_SOURCE = Path(__file__).parent / "templates" / "search-worker.js"
RESULTS_SOURCE = Path(__file__).parent / "templates" / "search-results.js"
RESULTS_SCRIPT = "assets/javascripts/intranet-search.js"  # where the build puts results_script()


def worker_script() -> bytes:
    """The search worker, to be written over Material's at :func:`worker_relpath`."""
    return WORKER_SOURCE.read_bytes()


def results_script() -> bytes:
    """The page script that shows the worker's count and pages on, for :data:`RESULTS_SCRIPT`."""
    return RESULTS_SOURCE.read_bytes()


def worker_relpath(theme_dir: str | Path | Iterable[str | Path] | None = None) -> str:
    """Where Material's search worker lives in a built tree, e.g. ``assets/javascripts/workers/search.a7633da7.min.js``.

    ``theme_dir`` is Material's ``templates`` folder, or the theme's folders in order (MkDocs'
    ``config.theme.dirs``); by default, the installed Material's. "" when none has the worker.
    """
    if theme_dir is None:
        spec = find_spec("material")
        locations = spec.submodule_search_locations if spec is not None else None
        dirs = [Path(next(iter(locations))) / "templates"] if locations else []
    elif isinstance(theme_dir, str | Path):
        dirs = [Path(theme_dir)]
    else:
        dirs = [Path(d) for d in theme_dir]
    for folder in dirs:
        found = sorted(folder.glob("assets/javascripts/workers/search.*.min.js"))
        if found:
            return found[0].relative_to(folder).as_posix()
    return ""
