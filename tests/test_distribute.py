"""Data parallelism: under MirroredStrategy on 2 logical CPUs the discriminator update
equals the single-device update (losses are scaled for the summing all-reduce), and the
command line trains with the strategy. Logical devices must be configured before TensorFlow
starts, so each check runs in its own process."""

import os
import subprocess
import sys
import textwrap

from helpers import ROOT, bindings, run_cli


def run_python(code):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT + os.pathsep + os.path.join(ROOT, "tests"))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env)


def test_mirrored_discriminator_update_equals_single_device_update():
    result = run_python("""
        import numpy as np, tensorflow as tf, keras
        from tfgan_icr.training.distribute import make_strategy
        from tfgan_icr import losses
        from tfgan_icr.training.gan import GAN
        from test_gan import TinyGenerator, TinyDiscriminator, batch

        mirrored = make_strategy("mirrored", logical_cpus=2)
        assert mirrored.num_replicas_in_sync == 2

        def build(strategy):
            with strategy.scope():
                keras.utils.set_random_seed(1)
                gan = GAN(TinyGenerator(), TinyDiscriminator(), n_dis=1)
                gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1),
                            discriminator_loss=losses.hinge_discriminator_loss,
                            generator_loss=losses.hinge_generator_loss)
                gan.build_all()
                # G outputs zeros whatever z is, so D's update depends on the real data only.
                for w in gan.generator.dense.weights:
                    w.assign(tf.zeros_like(w))
            return gan

        images, labels = batch(8)
        data = tf.data.Dataset.from_tensors((images, labels)).repeat()
        results = []
        for strategy in (tf.distribute.get_strategy(), mirrored):
            gan = build(strategy)
            before = [w.numpy().copy() for w in gan.discriminator.trainable_variables]
            gan.fit(data, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
            results.append([w.numpy() for w in gan.discriminator.trainable_variables])
            assert any(not np.allclose(b, w) for b, w in zip(before, results[-1]))
        for single, multi in zip(*results):
            np.testing.assert_allclose(single, multi, rtol=1e-5, atol=1e-6)
        print("EQUAL")
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "EQUAL" in result.stdout


def test_cli_trains_under_mirrored_strategy(tmp_path):
    result = run_cli(f"--model_dir={tmp_path}", "--steps=2",
                     *bindings("make_strategy.kind = 'mirrored'", "make_strategy.logical_cpus = 2",
                               "train.log_every = 1"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s)" in result.stdout
    assert os.path.exists(tmp_path / "checkpoints" / "ckpt-2.index")
