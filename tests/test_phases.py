"""Phases with their own batch size: which examples each iteration reads."""

import pytest

from tfgan_icr.training.phases import Phase, examples_before, make_phases, phase_at


def per_iteration(batch_size):  # n_dis = 2
    return 2 * batch_size


def test_make_phases():
    assert make_phases(64, (), 100) == [Phase(0, 100, 64)]
    assert make_phases(64, ((10, 32), (30, 16)), 100) == [Phase(0, 10, 64), Phase(10, 30, 32), Phase(30, 100, 16)]
    with pytest.raises(ValueError):
        make_phases(64, ((30, 32), (10, 16)), 100)
    with pytest.raises(ValueError):
        make_phases(64, ((10, 0),), 100)


def test_examples_before_counts_each_phase_at_its_batch_size():
    phases = make_phases(8, ((3, 4),), 10)
    assert [examples_before(phases, s, per_iteration) for s in (0, 1, 3, 4, 10)] == [0, 16, 48, 56, 104]
    assert phase_at(phases, 2).batch_size == 8 and phase_at(phases, 3).batch_size == 4
