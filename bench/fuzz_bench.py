"""Fuzz the mail gateway for a while: hostile variants of the public corpora through the whole pipeline.

    python bench/fuzz_bench.py --seconds 300
    python bench/fuzz_bench.py --examples 2000 --layer in-process
    python bench/fuzz_bench.py --seconds 60 --seed 7

The same cases and properties as ``tests/test_fuzz.py`` (see ``tests/mailfuzz.py`` for the mutations
and ``tests/fuzzpipe.py`` for the properties: every message ends with an outcome, nothing live comes
out, nothing is written outside the post's folder), run for ``--seconds`` or ``--examples`` instead of
the test's short fixed run, with fresh seeds: hypothesis runs batches of cases, each batch with the
next seed, the two layers taking turns (the end-to-end layer, a real worker on a Git repository, gets
``--end-to-end-share`` of the time; it is much slower a case). The end-to-end repository is started
afresh every ``--fresh-every`` cases, so a long run does not slow down as posts pile up.

Prints, per layer, the cases tried, their outcomes and the checks made of each property, then every
failure found (shrunk by hypothesis to a small case, printed so it can be replayed), and exits 1 if
there was one. Needs the shared corpora beside the repository (``../shared/corpus``).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fuzzpipe import PROPERTIES, CaseError, EndToEnd, InProcess, PropertyFailed  # noqa: E402
from hypothesis import given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from mailfuzz import CORPUS, PROFILE, Case, cases, seeds  # noqa: E402

BATCH = {"in-process": 100, "end-to-end": 20}  # cases a batch (one seed): a failure is shrunk within its batch


@dataclass
class Layer:
    name: str
    make: Any  # folder -> pipeline
    pipeline: Any = None
    cases: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    checked: Counter[str] = field(default_factory=Counter)
    since_fresh: int = 0


@dataclass
class Failure:
    layer: str
    error: str
    case: Case | None


def run_batch(layer: Layer, number: int, examples: int, deadline: float, failures: list[Failure]) -> None:
    """One batch of ``examples`` cases with seed ``number``; a failure is shrunk and kept in ``failures``."""
    last: list[tuple[Case, BaseException]] = []

    @seed(number)
    @settings(settings.get_profile(PROFILE), derandomize=False, max_examples=examples)
    @given(case=st.deferred(cases))
    def run(case: Case) -> None:
        if time.monotonic() > deadline:
            return  # out of time: the rest of the batch goes by untried (and uncounted)
        started = time.monotonic()
        try:
            result = layer.pipeline.run(case)
        except BaseException as exc:
            last.append((case, exc))
            raise
        finally:
            layer.seconds += time.monotonic() - started
            layer.cases += 1
        layer.outcomes[result.outcome] += 1
        layer.checked.update(result.checked)

    try:
        run()
    except Exception as exc:  # noqa: BLE001 - hypothesis re-raises what the smallest failing case raised
        case, error = last[-1] if last else (None, exc)
        if isinstance(error, PropertyFailed):
            what = str(error)
        elif isinstance(error, CaseError):
            what = f"the fuzzer itself (tests/mailfuzz.py): {error}"
        else:
            what = f"crash: {type(error).__name__}: {error}"
        failures.append(Failure(layer.name, what, case))


def fresh(layer: Layer, folder: Path, every: int) -> None:
    """A new pipeline when there is none, or when the old one has run ``every`` cases."""
    if layer.pipeline is not None and layer.since_fresh < every:
        return
    if layer.pipeline is not None and hasattr(layer.pipeline, "close"):
        layer.pipeline.close()
    target = folder / f"{layer.name}-{layer.cases}"
    layer.pipeline, layer.since_fresh = layer.make(target), 0


def report(layers: list[Layer], failures: list[Failure], elapsed: float) -> None:
    print(f"fuzzed for {elapsed:.0f} s, {len(seeds())} corpus messages as seeds")
    for layer in layers:
        rate = layer.cases / layer.seconds if layer.seconds else 0.0
        print(f"\n{layer.name}: {layer.cases} cases in {layer.seconds:.0f} s ({rate:.1f} a second)")
        print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(layer.outcomes.items())))
        for prop in PROPERTIES:
            print(f"  property {prop}: checked on {layer.checked[prop]} cases")
    print(f"\n{len(failures)} failure(s)")
    for failure in failures:
        print(f"\n[{failure.layer}] {failure.error[:2000]}\n  {failure.case!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="run this long in all (default 60 when no --examples)")
    budget.add_argument("--examples", type=int, help="run this many cases in each layer")
    parser.add_argument("--layer", choices=("both", "in-process", "end-to-end"), default="both")
    parser.add_argument("--end-to-end-share", type=float, default=0.4, help="of the time, with --seconds")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="the first batch's seed")
    parser.add_argument("--fresh-every", type=int, default=400, help="cases between two fresh repositories")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 2
    logging.getLogger().addHandler(logging.NullHandler())  # the gateway's log lines are not the report
    names = ["in-process", "end-to-end"] if args.layer == "both" else [args.layer]
    layers = [Layer("in-process", InProcess), Layer("end-to-end", EndToEnd)]
    layers = [layer for layer in layers if layer.name in names]
    share = {"in-process": 1 - args.end_to_end_share, "end-to-end": args.end_to_end_share} if len(layers) > 1 else {}
    seconds = args.seconds if args.seconds is not None else (None if args.examples else 60.0)
    folder = Path(tempfile.mkdtemp(prefix="fuzz-bench-"))
    failures: list[Failure] = []
    started = time.monotonic()
    deadline = started + seconds if seconds is not None else float("inf")
    number = args.seed
    print(f"seeds from {number}; working in {folder}", flush=True)
    try:
        while time.monotonic() < deadline:
            waiting = [x for x in layers if args.examples is None or x.cases < args.examples]
            if not waiting:
                break
            layer = min(waiting, key=lambda x: x.seconds / share.get(x.name, 1.0))
            fresh(layer, folder, args.fresh_every)
            examples = BATCH[layer.name]
            if args.examples is not None:
                examples = min(examples, args.examples - layer.cases)
            before = layer.cases
            run_batch(layer, number, examples, deadline, failures)
            layer.since_fresh += layer.cases - before
            number += 1
    finally:
        for layer in layers:
            if layer.pipeline is not None and hasattr(layer.pipeline, "close"):
                layer.pipeline.close()
        shutil.rmtree(folder, ignore_errors=True)
    report(layers, failures, time.monotonic() - started)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
