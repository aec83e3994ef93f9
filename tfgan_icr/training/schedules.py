"""Values that follow the global step, computed inside the graph: a term's weight ramp, the
EMA decay, a fade-in alpha. A schedule is a callable ``schedule(step) -> float32 scalar``
of the int64 step tensor; since it is a pure function of the checkpointed step, one traced
train step serves a whole run and a resumed run continues every schedule exactly.
"""

import gin
import tensorflow as tf


def value_at(schedule, step):
    """``schedule(step)`` as float32, or the constant ``schedule`` when it is a number."""
    if callable(schedule):
        return tf.cast(schedule(step), tf.float32)
    return tf.constant(float(schedule), tf.float32)


class _Schedule:
    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


@gin.configurable
class constant(_Schedule):  # noqa: N801 (gin name, like the other schedules)
    """The same value at every step."""

    def __init__(self, value=1.0):
        self.value = float(value)

    def __call__(self, step):
        return tf.constant(self.value, tf.float32)


@gin.configurable
class linear_ramp(_Schedule):  # noqa: N801
    """``start_value`` until ``start_step``, then linear to ``end_value`` at ``end_step``, then flat."""

    def __init__(self, start_value=0.0, end_value=1.0, start_step=0, end_step=1000):
        if end_step <= start_step:
            raise ValueError(f"linear_ramp needs end_step > start_step, got {start_step}, {end_step}")
        self.start_value, self.end_value = float(start_value), float(end_value)
        self.start_step, self.end_step = int(start_step), int(end_step)

    def __call__(self, step):
        t = (tf.cast(step, tf.float32) - self.start_step) / float(self.end_step - self.start_step)
        t = tf.clip_by_value(t, 0.0, 1.0)
        return self.start_value + t * (self.end_value - self.start_value)


@gin.configurable
class piecewise_constant(_Schedule):  # noqa: N801
    """``values[i]`` for ``boundaries[i-1] <= step < boundaries[i]`` (len(values) = len(boundaries) + 1)."""

    def __init__(self, boundaries=(), values=(1.0,)):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"piecewise_constant needs one more value than boundaries, got "
                             f"{len(boundaries)} boundaries and {len(values)} values")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"piecewise_constant boundaries must be increasing, got {boundaries}")
        self.boundaries = [int(b) for b in boundaries]
        self.values = [float(v) for v in values]

    def __call__(self, step):
        index = tf.reduce_sum(tf.cast(tf.cast(step, tf.int64) >= tf.constant(self.boundaries, tf.int64),
                                      tf.int32)) if self.boundaries else 0
        return tf.gather(tf.constant(self.values, tf.float32), index)
