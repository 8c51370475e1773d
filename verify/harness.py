"""Runs a ``Case`` through every implementation and turns disagreements into
messages a person can act on (indicator, parameters, pair, index, both values,
scaled error, ULP distance, and the input as a pasteable ``Case.of(...)``)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import target

from bridge.crosscheck import Implementation, Job, PairResult, crosscheck
from verify.cases import Case

#: OCaml streams are fed per bar, one round trip each: longer series seed the
#: stream with all but the last MAX_OCAML_PUSH bars (the seeding runs in OCaml).
MAX_OCAML_PUSH = 16


def job_of(case: Case) -> Job:
    """The crosscheck job of a case."""
    return Job(case.name, case.params, case.data, case.split)


def failure_message(case: Case, failures: Sequence[PairResult]) -> str:
    """Everything needed to reproduce and understand the failing pairs."""
    lines = [f"{case.short()}: {len(failures)} pair(s) disagree"]
    for pr in failures:
        lines.append(f"  {pr.a} vs {pr.b}: {pr.problem}")
        fail = pr.report.first_failure if pr.report else None
        if fail is not None:
            lines.append(f"    bars at index {fail.index}: " + _bar_at(case, fail.index))
    lines.append(f"  input: {case!r}")
    return "\n".join(lines)


def _bar_at(case: Case, i: int) -> str:
    return ", ".join(f"{f}={float(case.data[f][i])!r}" for f in ("high", "low", "close", "volume"))


def assert_agree(
    case: Case, impls: Sequence[Implementation], *, steer: bool = False
) -> list[PairResult]:
    """Every pair of ``impls`` agrees on ``case`` (same NaN mask, inside the
    contract, nobody raises); returns the pair results for further checks.

    ``steer`` (inside ``@given`` only) tells hypothesis the largest scaled error
    seen, so its targeting phase searches for inputs that push it up.
    """
    pairs = crosscheck([job_of(case)], impls)[0]
    if steer:
        worst = max((p.report.max_scaled_error for p in pairs if p.report), default=0.0)
        target(min(worst, 1e6), label="max scaled error")
    failures = [p for p in pairs if not p.ok]
    if failures:
        raise AssertionError(failure_message(case, failures))
    return pairs


def assert_all_reject(
    case: Case, impls: Sequence[Implementation]
) -> list[tuple[str, BaseException]]:
    """Every implementation in ``impls`` rejects ``case``; returns (label, error) pairs."""
    runs = [(impl.label, impl.run_all([job_of(case)])[0]) for impl in impls]
    accepted = [label for label, run in runs if run.error is None]
    if accepted:
        rejected = [f"{label}: {type(r.error).__name__}: {r.error}" for label, r in runs if r.error]
        raise AssertionError(
            f"{case.short()}: accepted by {', '.join(accepted)} but rejected by "
            f"{'; '.join(rejected) or 'nobody'}\n  input: {case!r}"
        )
    return [(label, r.error) for label, r in runs if r.error is not None]
