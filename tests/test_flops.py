"""The FLOP count of a training iteration (tfgan_icr.training.flops) against a hand count on
a GAN small enough to count by hand: G = one dense layer z -> 4x4x3 image, D = one 3x3 conv
(3 -> 4 channels) and one dense layer to the logit, no biases, n_dis = 2."""

import keras
import pytest
import tensorflow as tf
from keras import ops

from tfgan_icr import losses
from tfgan_icr.training.flops import function_flops, train_step_flops
from tfgan_icr.training.gan import GAN

Z, SIZE, CH, FILTERS = 8, 4, 3, 4


class HandG(keras.Model):
    z_dim, num_classes = Z, 0

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(SIZE * SIZE * CH, use_bias=False)

    def call(self, z, labels=None, training=False):
        return ops.tanh(ops.reshape(self.dense(z), (-1, SIZE, SIZE, CH)))


class HandD(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(FILTERS, 3, padding="same", use_bias=False)
        self.dense = keras.layers.Dense(1, use_bias=False)

    def call(self, x, labels=None, training=False):
        h = ops.reshape(ops.leaky_relu(self.conv(x)), (-1, SIZE * SIZE * FILTERS))
        return ops.squeeze(self.dense(h), -1)


def hand_count(b, n_dis):
    """Multiply-adds x 2 of one iteration at batch b per update."""
    g_dense = 2 * b * Z * SIZE * SIZE * CH            # forward; its kernel gradient costs the same
    conv = 2 * b * SIZE * SIZE * FILTERS * 3 * 3 * CH  # forward; each of its gradients the same
    d_dense = 2 * b * SIZE * SIZE * FILTERS            # forward; each of its gradients the same
    # D update: G makes the fake batch; D forward on real and fake; D's kernel gradients on
    # both, plus the dense layer's input gradient to reach the conv (images need no gradient).
    d_update = g_dense + 2 * (conv + d_dense) + 2 * (conv + 2 * d_dense)
    # G update: G and D forward; back through D's dense and conv (input gradients only: D's
    # kernels are not updated) to G's kernel (z needs no gradient).
    g_update = g_dense + conv + d_dense + d_dense + conv + g_dense
    return n_dis * d_update + g_update


def hand_gan(n_dis=2):
    gan = GAN(HandG(), HandD(), n_dis=n_dis)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1),
                discriminator_loss=losses.hinge_discriminator_loss,
                generator_loss=losses.hinge_generator_loss)
    gan.build_all()
    return gan


@pytest.mark.parametrize("batch", [4, 16])
def test_iteration_flops_equal_the_hand_count(batch):
    counted = train_step_flops(hand_gan(), batch, (SIZE, SIZE, CH))
    assert counted["conv_matmul_flop"] == hand_count(batch, 2)
    # The rest (bias-free here: hinge losses, the SGD updates, gradient sums) is element-wise.
    assert counted["conv_matmul_flop"] <= counted["flop"] <= 1.1 * counted["conv_matmul_flop"]
    assert counted["unknown_shape_ops"] == []
    assert {"Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput", "MatMul"} <= set(counted["flop_by_op"])


def test_branches_count_the_dearer_one_and_loops_their_trips():
    w = tf.Variable(tf.ones([8, 8]))

    @tf.function
    def fn(x, flag):
        y = tf.matmul(x, w)                                         # 2*4*8*8 = 512
        y = tf.cond(flag, lambda: tf.matmul(tf.matmul(y, w), w), lambda: y)   # 1024 (dearer branch)
        _, y = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, tf.matmul(y, w)), (0, y))
        unused = tf.matmul(tf.concat([x, x], 0), w)                 # pruned: nothing depends on it
        del unused
        return y

    specs = (tf.TensorSpec([4, 8]), tf.TensorSpec([], tf.bool))
    assert function_flops(fn, *specs, loop_trips=3)["conv_matmul_flop"] == 512 + 1024 + 3 * 512


def test_conv_rate_counts_the_convolution_it_times():
    from tfgan_icr.training.benchmark import conv_rate

    rate = conv_rate("bfloat16", batch_size=2, size=8, channels=4, kernel=3, min_seconds=0.0, warmup=1)
    assert rate["flop_per_call"] == 2 * (2 * 8 * 8 * 4) * (3 * 3 * 4)   # outputs x (kernel x in-channels) MACs
    assert rate["dtype"] == "bfloat16" and rate["calls"] >= 3
    assert rate["gflop_per_second"] == pytest.approx(rate["flop_per_call"] * rate["calls"] / rate["seconds"] / 1e9)


def test_the_breakdown_parts_are_the_whole_iteration():
    from tfgan_icr.training.benchmark import iteration_breakdown

    gan = hand_gan(n_dis=2)
    parts = iteration_breakdown(gan, 4, (SIZE, SIZE, CH), repeats=1)
    names = ("generator_passes", "discriminator_updates", "generator_update")
    assert [parts[n]["calls_per_iteration"] for n in names] == [2, 2, 1]
    # The same convolutions and products as the whole step, part by part as counted by hand.
    assert sum(parts[n]["conv_matmul_flop"] for n in names) == hand_count(4, 2)
    assert parts["generator_passes"]["conv_matmul_flop"] == 2 * (2 * 4 * Z * SIZE * SIZE * CH)
    assert all(parts[n]["seconds"] > 0 for n in names)
    assert parts["sum_seconds"] == pytest.approx(sum(parts[n]["seconds"] for n in names))


def test_own_shapes_remake_and_time_every_dense_op_of_the_step():
    from tfgan_icr.training.benchmark import _remade_op, own_shape_rates

    gan = hand_gan(n_dis=2)
    counted = train_step_flops(gan, 4, (SIZE, SIZE, CH), with_signatures=True)
    signatures = counted["dense_ops"]
    # Every convolution and product of the step is in one signature (the gradients' input
    # sizes, which the graph computes with ShapeN, included), counted as often as it runs.
    assert sum(s["flop"] * s["calls"] for s in signatures) == counted["conv_matmul_flop"] == hand_count(4, 2)
    assert {s["type"] for s in signatures} >= {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul"}
    rng = tf.random.Generator.from_seed(0)
    for signature in signatures:   # each remade op computes the shape the step's op computes
        graph = _remade_op(signature, rng).get_concrete_function().graph
        remade = [op for op in graph.get_operations() if op.type == signature["type"]]
        assert [tuple(op.outputs[0].shape.as_list()) for op in remade] == [signature["output"]]
    own = own_shape_rates(signatures, min_seconds=0.0, dearest=3)
    assert own["signatures"] == len(signatures) and own["flop"] == hand_count(4, 2)
    assert own["seconds"] > 0 and own["gflop_per_second"] == pytest.approx(own["flop"] / own["seconds"] / 1e9)
    shares = [op["share_of_seconds"] for op in own["dearest"]]
    assert len(shares) == 3 and shares == sorted(shares, reverse=True) and sum(shares) <= 1.0 + 1e-9
