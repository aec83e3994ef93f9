"""Gradient accumulation: k micro-batches take the step of one full batch, without growing the
graph, also under MirroredStrategy; k = 1 is the unaccumulated step exactly."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from test_distribute import run_python
from test_gan import TinyDiscriminator, TinyGenerator, batch
from tfgan_icr import losses
from tfgan_icr.training.gan import GAN


def make(accumulation_steps, zero_generator=True, n_dis=1, seed=3):
    keras.utils.set_random_seed(1)
    gan = GAN(TinyGenerator(), TinyDiscriminator(), n_dis=n_dis, seed=seed,
              accumulation_steps=accumulation_steps)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1),
                discriminator_loss=losses.non_saturating_discriminator_loss,
                generator_loss=losses.non_saturating_generator_loss)
    gan.build_all()
    if zero_generator:  # G outputs 0 whatever z is: D's update depends on the real data only
        for w in gan.generator.dense.weights:
            w.assign(tf.zeros_like(w))
    return gan


def weights(net):
    return [w.numpy().copy() for w in net.trainable_variables]


@pytest.mark.parametrize("k", [2, 4])
def test_accumulated_discriminator_update_equals_the_full_batch_update(k):
    data = batch(16)
    full, accumulated = make(1), make(k)
    tf.function(full.train_step)(data)
    logs = tf.function(accumulated.train_step)(data)
    for a, b in zip(weights(full.discriminator), weights(accumulated.discriminator)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(accumulated.d_optimizer.iterations) == 1 and int(accumulated.g_optimizer.iterations) == 1
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_micro_batches_draw_their_own_latents_and_micro_batch_0_the_unaccumulated_ones():
    gan = make(4, zero_generator=False)
    seeds = [tuple(gan._seed(0, micro).numpy()) for micro in range(4)]
    assert len(set(seeds)) == 4
    assert seeds[0] == tuple(gan._seed(0).numpy())
    z = [gan.sample_inputs(4, salt=0, micro=tf.constant(m))[0].numpy() for m in range(4)]
    assert not any(np.allclose(z[0], other) for other in z[1:])
    results = []
    for _ in range(2):
        gan = make(4, zero_generator=False)
        tf.function(gan.train_step)(batch(16))
        results.append(weights(gan.generator))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_the_graph_does_not_grow_with_accumulation_steps():
    sizes = {}
    for k in (2, 8):
        gan = make(k)
        graph = tf.function(gan.train_step).get_concrete_function(
            (tf.TensorSpec([16, 4, 4, 1]), tf.TensorSpec([16], tf.int32))).graph
        sizes[k] = len(graph.as_graph_def(add_shapes=False).node) + sum(
            len(f.node_def) for f in graph.as_graph_def().library.function)
    assert sizes[8] == sizes[2]


def test_a_batch_that_does_not_split_is_refused():
    gan = make(3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiple of accumulation_steps=3"):
        tf.function(gan.train_step)(batch(8))
    with pytest.raises(ValueError, match="accumulation_steps must be >= 1"):
        GAN(TinyGenerator(), TinyDiscriminator(), accumulation_steps=0)


def test_accumulation_under_mirrored_strategy_equals_single_device_full_batch():
    result = run_python("""
        import numpy as np, tensorflow as tf
        from tfgan_icr.training.distribute import make_strategy
        from test_accumulation import make
        from test_gan import batch

        mirrored = make_strategy("mirrored", logical_cpus=2)
        data = tf.data.Dataset.from_tensors(batch(16)).repeat()
        results = []
        for strategy, k in ((tf.distribute.get_strategy(), 1), (mirrored, 2)):
            with strategy.scope():
                gan = make(k)
            gan.fit(data, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
            results.append([w.numpy() for w in gan.discriminator.trainable_variables])
        for single, multi in zip(*results):
            np.testing.assert_allclose(single, multi, rtol=1e-5, atol=1e-6)
        print("EQUAL")
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "EQUAL" in result.stdout


def test_cli_trains_a_batch_norm_model_with_accumulation_under_mirrored_strategy(tmp_path):
    from helpers import bindings, run_cli
    result = run_cli(f"--model_dir={tmp_path}", "--steps=2",
                     *bindings("make_strategy.kind = 'mirrored'", "make_strategy.logical_cpus = 2",
                               "build_gan.accumulation_steps = 2", "train.batch_size = 8",
                               "train.log_every = 1"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "checkpoints" / "ckpt-2.index").exists()
    refused = run_cli(f"--model_dir={tmp_path / 'bad'}", "--steps=1",
                      *bindings("build_gan.accumulation_steps = 3", "train.batch_size = 8"))
    assert refused.returncode != 0
    assert "does not split into build_gan.accumulation_steps=3" in refused.stderr
