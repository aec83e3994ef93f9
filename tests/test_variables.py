"""Variables keyed by attribute path: checkpoints and the EMA cannot mix up same-shaped layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr.errors import CheckpointError
from tfgan_icr.training.checkpoint import CheckpointStore
from tfgan_icr.training.gan import GAN
from tfgan_icr.training.variables import named_variables, pair_by_name


class TwoDense(keras.Model):
    """Two same-shaped layers whose construction order can be swapped."""

    def __init__(self, swap=False, **kwargs):
        super().__init__(**kwargs)
        if swap:
            self.second = keras.layers.Dense(4)
            self.first = keras.layers.Dense(4)
        else:
            self.first = keras.layers.Dense(4)
            self.second = keras.layers.Dense(4)

    def call(self, x):
        return self.second(self.first(x))


class Blocks(keras.Model):
    """Blocks kept in a Python list and a dict, with BN state: what BigGAN/PGGAN hold."""

    def __init__(self, n=3, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [keras.layers.Dense(4) for _ in range(n)]
        self.norms = {"a": keras.layers.BatchNormalization(), "b": keras.layers.BatchNormalization()}

    def call(self, x, training=False):
        for block in self.blocks:
            x = block(x)
        return self.norms["b"](self.norms["a"](x, training=training), training=training)


def build(model, dim=4):
    model(tf.ones([2, dim]))
    return model


def test_paths_do_not_depend_on_construction_order_or_other_models():
    keras.layers.Dense(3)  # bumps Keras' global name counter, which changes Keras' own paths
    a, b = build(TwoDense()), build(TwoDense(swap=True))
    assert list(named_variables(a)) == list(named_variables(b)) == [
        "first/bias", "first/kernel", "second/bias", "second/kernel"]
    assert [v.path for v in a.weights] != [v.path for v in b.weights]  # Keras' paths differ


def test_lists_and_dicts_of_layers_get_indexed_paths():
    names = list(named_variables(build(Blocks())))
    assert "blocks/2/kernel" in names and "norms/b/moving_variance" in names
    assert len(names) == 3 * 2 + 2 * 4


def test_pair_by_name_refuses_other_architectures():
    pairs = pair_by_name(build(TwoDense(swap=True)), build(TwoDense()))
    assert len(pairs) == 4 and all(t.shape == s.shape for t, s in pairs)
    with pytest.raises(ValueError, match="blocks/0/bias"):
        pair_by_name(build(Blocks()), build(TwoDense()))


class Gen(keras.Model):
    def __init__(self, swap=False, blocks=2):
        super().__init__()
        self.z_dim, self.num_classes, self.image_size, self.channels = 4, 0, 2, 1
        self.net = TwoDense(swap=swap)
        self.blocks = [keras.layers.Dense(4) for _ in range(blocks)]

    def call(self, z, labels=None, training=False):
        x = self.net(z)
        for block in self.blocks:
            x = block(x)
        return keras.ops.reshape(keras.ops.tanh(x), (-1, 2, 2, 1))


class Disc(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)

    def call(self, images, labels=None, training=False):
        return keras.ops.reshape(self.dense(keras.ops.reshape(images, (-1, 4))), (-1,))


def make_gan(swap=False, blocks=2, ema=False):
    keras.utils.set_random_seed(0)
    gan = GAN(Gen(swap, blocks), Disc(), ema_generator=Gen(not swap, blocks) if ema else None, ema_decay=0.5)
    gan.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2),
                lambda r, f: tf.reduce_mean(f) - tf.reduce_mean(r), lambda f: -tf.reduce_mean(f))
    gan.build_all()
    return gan


def train_steps(gan, n=2):
    rng = np.random.default_rng(0)
    for _ in range(n):
        gan.train_step((tf.constant(rng.normal(size=(4, 2, 2, 1)), tf.float32), tf.zeros([4], tf.int32)))


def test_swapped_construction_order_restores_each_layer_its_own_values(tmp_path):
    gan = make_gan()
    train_steps(gan)
    CheckpointStore(str(tmp_path), gan).save()
    other = make_gan(swap=True)
    assert CheckpointStore(str(tmp_path), other).restore() == 2
    for path, variable in named_variables(gan.generator).items():
        np.testing.assert_array_equal(named_variables(other.generator)[path].numpy(), variable.numpy(),
                                      err_msg=path)
    # The optimizer slots follow the names too: the next update is identical.
    train_steps(gan, 1)
    train_steps(other, 1)
    for path, variable in named_variables(gan.generator).items():
        np.testing.assert_array_equal(named_variables(other.generator)[path].numpy(), variable.numpy(),
                                      err_msg=path)


def test_a_network_with_a_list_of_blocks_round_trips(tmp_path):
    gan = make_gan(blocks=3, ema=True)
    train_steps(gan)
    CheckpointStore(str(tmp_path), gan).save()
    fresh = make_gan(blocks=3, ema=True)
    CheckpointStore(str(tmp_path), fresh).restore()
    for net in ("generator", "discriminator", "ema_generator"):
        for a, b in zip(getattr(gan, net).weights, getattr(fresh, net).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_checkpoint_of_another_model_names_the_first_differing_variable(tmp_path):
    gan = make_gan(blocks=3)
    CheckpointStore(str(tmp_path), gan).save()
    with pytest.raises(CheckpointError, match=r"different model \(generator: blocks/2/bias is only in the checkpoint\)"):
        CheckpointStore(str(tmp_path), make_gan(blocks=2)).restore()
    with pytest.raises(CheckpointError, match=r"blocks/3/bias is only in this model"):
        CheckpointStore(str(tmp_path), make_gan(blocks=4)).restore()


def test_ema_pairs_by_name_not_by_position():
    gan = make_gan(ema=True)  # the EMA copy is built with the other construction order
    ema, g = named_variables(gan.ema_generator), named_variables(gan.generator)
    for path in g:
        np.testing.assert_array_equal(ema[path].numpy(), g[path].numpy(), err_msg=path)
    before = {p: v.numpy().copy() for p, v in ema.items()}
    train_steps(gan, 1)
    for path in g:  # decay 0.5 from the start: halfway between the old EMA and the new G
        np.testing.assert_allclose(ema[path].numpy(), 0.5 * before[path] + 0.5 * g[path].numpy(), rtol=1e-6,
                                   err_msg=path)


def test_a_variable_created_after_the_store_is_refused_on_save(tmp_path):
    gan = make_gan()
    store = CheckpointStore(str(tmp_path), gan)
    gan.generator._tracker.unlock()  # Keras refuses new state on a built model; force it
    gan.generator.late = keras.layers.Dense(2)
    gan.generator.late.build((None, 3))
    with pytest.raises(CheckpointError, match="late/bias"):
        store.save()
