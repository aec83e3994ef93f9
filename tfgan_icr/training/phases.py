"""Training phases: spans of steps with their own batch size and, for a growing model, its
stage (PGGAN's resolution: a Python value fixed for the phase's traced step, see
`GAN.enter_phase`).

Which examples an iteration reads is a pure function of its step: iteration s starts at
example `examples_before(s)` of the run's index stream, so a run resumed in any phase, or
across a phase change, reads exactly the data an uninterrupted run would have read.
"""

from typing import Any, List, NamedTuple, Sequence, Tuple


class Phase(NamedTuple):
    start_step: int
    end_step: int  # exclusive
    batch_size: int
    stage: Any = None  # what a growing model computes in this phase (None: not growing)


def make_phases(batch_size: int, schedule: Sequence[Tuple[int, int]], total_steps: int,
                stage=None) -> List[Phase]:
    """Phases covering steps [0, total_steps): `batch_size` (and `stage`) from step 0, then each
    ``(start_step, batch_size)`` or ``(start_step, batch_size, stage)`` of `schedule`
    (increasing start steps) from its start."""
    changes = [(0, int(batch_size), stage)] + [(int(c[0]), int(c[1]), c[2] if len(c) > 2 else None)
                                               for c in schedule]
    starts = [s for s, _, _ in changes]
    if starts != sorted(starts) or len(set(starts)) != len(starts):
        raise ValueError(f"the batch-size schedule's start steps must increase, got {list(schedule)}")
    for _, b, _ in changes:
        if b < 1:
            raise ValueError(f"batch sizes must be >= 1, got {b}")
    bounds = starts[1:] + [max(int(total_steps), starts[-1])]
    return [Phase(s, e, b, g) for (s, b, g), e in zip(changes, bounds) if e > s or s == starts[-1]]


def phase_at(phases: Sequence[Phase], step: int) -> Phase:
    for phase in phases:
        if phase.start_step <= step < phase.end_step:
            return phase
    return phases[-1]


def examples_before(phases: Sequence[Phase], step: int, examples_per_iteration) -> int:
    """Examples consumed by iterations 0 .. step-1; `examples_per_iteration(batch_size)` comes
    from the GAN (n_dis batches per iteration)."""
    total = 0
    for phase in phases:
        if step <= phase.start_step:
            break
        last = phase.end_step if phase is not phases[-1] else step
        total += (min(step, last) - phase.start_step) * examples_per_iteration(phase.batch_size)
    return total
