"""Extra loss terms: regularisers added to the discriminator's or the generator's loss.

A term is a callable ``fn(ctx) -> scalar`` of a `StepContext` (``tfgan_icr.training.context``).
The GAN wraps every listed callable in a `Term`, which gives it

* a unique **name** (logged as ``d_<name>`` / ``g_<name>`` and summed under it): the
  ``name`` given to `term`, else the gin scope `term` was called in
  (``@real/term()`` -> ``real``), else the function's name. Two terms of one side with one
  name are refused, so no term can silently drop out of the loss;
* its own **random stream**: ``ctx.seed`` folded with the name, so adding a term never
  changes the draws of another;
* a **weight** that may follow a schedule of the step (``schedules.linear_ramp``...);
* **lazy evaluation**: ``every = k`` runs the term on every k-th update of its side only, with
  its value multiplied by k (StyleGAN2's lazy regularisation); the other updates skip its
  forward and backward passes entirely;
* with ``build_gan.joint_discriminator_call``, the term's **extra discriminator passes in the
  update's one D call**, when its function is marked `plans_discriminator_passes`.

In gin: ``build_gan.d_terms = [@gradient_penalty]`` (defaults), or with options
``build_gan.d_terms = [@gp/term()]``, ``gp/term.fn = @gradient_penalty``, ``gp/term.every = 4``.
"""

import functools

import gin
import tensorflow as tf

from tfgan_icr import sampling
from tfgan_icr.errors import ConfigError
from tfgan_icr.training.schedules import value_at


class Term:
    """A loss term with its name, weight (a number or a schedule) and evaluation interval."""

    def __init__(self, fn, name=None, weight=1.0, every=1):
        if not callable(fn):
            raise ConfigError(f"a loss term must be callable, got {fn!r}")
        if int(every) < 1:
            raise ConfigError(f"term {name or fn}: every must be >= 1, got {every}")
        self.fn = fn
        self.name = name or getattr(fn, "name", None) or getattr(fn, "__name__", None) or type(fn).__name__
        self.weight = weight
        self.every = int(every)

    def __repr__(self):
        return f"Term({self.name!r}, every={self.every}, weight={self.weight!r})"

    def plan(self, ctx):
        """Run the term on a planning context (`StepContext.planning`) so that the extra D
        passes it needs join the update's one D call; only for a term that says it can
        (`plans_discriminator_passes`) and runs at every update (a lazy term's passes stay in
        its own branch)."""
        fn = self.fn.func if isinstance(self.fn, functools.partial) else self.fn
        if self.every == 1 and getattr(fn, PLANS_ATTRIBUTE, False):
            self.fn(ctx.for_term(self.name))

    def __call__(self, ctx):
        """The weighted value this term adds to the loss at this update."""
        weight = value_at(self.weight, ctx.step)
        own = ctx.for_term(self.name)
        if self.every == 1:
            return weight * tf.cast(self.fn(own), tf.float32)
        due = tf.equal(ctx.update_count % self.every, 0)
        scale = weight * float(self.every)
        # The lazy branch gets a context of its own: forward passes it caches stay inside it.
        return tf.cond(due, lambda: scale * tf.cast(self.fn(own.isolated()), tf.float32),
                       lambda: tf.constant(0.0, tf.float32))


PLANS_ATTRIBUTE = "plans_discriminator_passes"


def plans_discriminator_passes(fn):
    """Marks a term function whose extra discriminator passes may join the update's one D call
    (`build_gan.joint_discriminator_call`). Its promise: called on a planning context, it has
    no effect but its `ctx.discriminate` calls (recorded there) and what it computes through
    `ctx.shared` (kept for the real call), and each D pass goes through `ctx.shared`, where
    the real call finds the joint call's output. Put it under ``@gin.configurable``."""
    setattr(fn, PLANS_ATTRIBUTE, True)
    return fn


@gin.configurable
def term(fn=gin.REQUIRED, name=None, weight=1.0, every=1):
    """A `Term` for gin: ``@scope/term()`` takes its name from the gin scope."""
    return Term(fn, name=name or gin.current_scope_str() or None, weight=weight, every=every)


def as_terms(fns, side):
    """Wrap callables in `Term` objects, refusing duplicate names with a one-line error."""
    terms = [fn if isinstance(fn, Term) else Term(fn) for fn in fns]
    seen = {}
    for t in terms:
        if t.name in seen:
            raise ConfigError(
                f"two {side} terms are named '{t.name}' ({seen[t.name]!r} and {t!r}); one would hide the "
                f"other in the logs: give each its own name, e.g. [@a/term(), @b/term()] with "
                f"a/term.fn = ... (the gin scope names the term) or term.name = '...'")
        seen[t.name] = t
    return terms


def term_seed(seed, name):
    """The term's own stream: the update's term seed folded with the term's name."""
    return tf.random.experimental.stateless_fold_in(seed, sampling.name_salt(name))
