"""XLA (build_gan.jit_compile): one train step of every shipped config family, at test width,
compiles under jit_compile=True and runs with finite logs.

Grouping, so that each distinct piece of step code is compiled once (one XLA compile takes
15-90 s on the loaded 2 cores): the step's graph depends on the networks and on the loss
terms, not on the dataset, the widths or the learning rates, and the terms and heads reach
the networks only through the StepContext / DiscriminatorOutput, so they do not depend on
the backbone. The ~40 shipped configs therefore fall into five cases:
- the conditional SNDCGAN in the sngan layout (`quickstart`, the Fashion-MNIST method
  configs) with every method term of gin_configs/icr/ in one step: CR, bCR, zCR-D and
  zCR-G (= ICR), WGAN-GP, DRAGAN, JSR, and ACGAN's classifier head with its D and G terms
  (`acgan_cifar10`'s method); this covers the terms of every `<model>_<method>` config;
- ContraGAN's contrastive head and 2C terms (`contragan_*`) on the SNDCGAN in the
  compare_gan layout (`sndcgan_cifar10`, `sndcgan_celeba` and their method configs), with
  gradient accumulation (accumulation_steps 2: the step's graph loop);
- `resnet_cifar10` (SNGAN-ResNet: every resnet_cifar10_* config's networks);
- `biggan_cifar10` (BigGAN: sync BN, hierarchical z, self-attention, EMA), with the ImageNet
  configs' orthogonal regularisation as its G term (the `*biggan*` configs);
- `pggan_fashion_mnist` in one growing stage a quarter into its fade-in (alpha, the blended
  real images, minibatch stddev, WGAN-GP and drift).
"""

import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr import config
from tfgan_icr.methods.progressive import Stage
from tfgan_icr.training.builder import build_gan

SNDCGAN = ["sndcgan_generator.ch = 8", "sndcgan_discriminator.ch = 8", "sndcgan_generator.z_dim = 16",
           "build_gan.generator_fn = @sndcgan_generator", "build_gan.discriminator_fn = @sndcgan_discriminator",
           "build_gan.n_dis = 1"]
COMPARE_GAN = ["sndcgan_generator.layout = 'compare_gan'", "sndcgan_discriminator.layout = 'compare_gan'"]
EVERY_TERM = ["build_gan.discriminator_options = {'head': 'acgan'}",
              "build_gan.d_terms = [@consistency, @balanced_consistency, @latent_consistency_discriminator, "
              "@wgan_gradient_penalty, @dragan, @jensen_shannon, @acgan/term()]",
              "build_gan.g_terms = [@latent_consistency_generator, @g_acgan/term()]"]
RESNET = ["resnet_generator.ch = 8", "resnet_discriminator.ch = 8", "resnet_generator.z_dim = 8",
          "build_gan.n_dis = 1"]
BIGGAN = ["biggan_generator.ch = 2", "biggan_discriminator.ch = 4", "biggan_generator.z_dim = 12",
          "biggan_generator.shared_dim = 4", "build_gan.n_dis = 1"]
PGGAN = ["pggan_generator.z_dim = 8", "pggan_generator.fmap_base = 32", "pggan_generator.fmap_max = 8",
         "pggan_discriminator.fmap_base = 32", "pggan_discriminator.fmap_max = 8",
         "progressive_growth.batch_sizes = {4: 4, 8: 4}"]

# name: (config, extra bindings, num_classes, image_size, channels)
CASES = {
    "sndcgan_every_method_term_and_acgan": ("acgan_cifar10", SNDCGAN + EVERY_TERM, 3, 16, 3),
    "sndcgan_compare_gan_contragan_accumulation": (
        "contragan_cifar10", SNDCGAN + COMPARE_GAN + ["build_gan.accumulation_steps = 2"], 3, 16, 3),
    "resnet": ("resnet_cifar10", RESNET, 0, 32, 3),
    "biggan_orthogonal": ("biggan_cifar10", BIGGAN + ["build_gan.g_terms = [@orthogonal]"], 10, 32, 3),
    "pggan_fade_in": ("pggan_fashion_mnist", PGGAN, 0, 8, 1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_family_step_compiles_with_xla(case):
    name, bindings, num_classes, image_size, channels = CASES[case]
    config.parse([name], bindings)
    gan = build_gan(num_classes=num_classes, image_size=image_size, channels=channels, seed=0)
    gan.build_all()
    if gan.growth is not None:  # the 8x8 stage a quarter into its fade-in
        gan.growth.enter(gan, Stage(resolution=image_size, start_step=-1, transition_steps=4))
    batch = 4 * gan.n_dis
    images = tf.random.stateless_uniform([batch, image_size, image_size, channels], seed=[0, 1],
                                         minval=-1, maxval=1)
    labels = tf.range(batch) % max(num_classes, 1)
    step = tf.function(gan.train_step, jit_compile=True)
    logs = step((images, labels))
    # jit_compile=True fails the call when any op of the step cannot be compiled.
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    expected = [f"d_{t.name}" for t in gan.d_terms] + [f"g_{t.name}" for t in gan.g_terms]
    assert set(expected) <= set(logs)
    assert int(gan.global_step) == 1
    if gan.growth is not None:
        assert gan.growth.networks(gan)[0].level_of_detail.alpha.numpy() == pytest.approx(0.25)
