"""Every method config (gin_configs/icr/) parses and builds its GAN with the terms it names,
with the data mocked (its shape from the config's bench.* bindings), so configs whose data
this machine lacks cannot rot. One Fashion-MNIST method config also trains a step."""

import glob
import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from helpers import ROOT
from tfgan_icr import config
from tfgan_icr.training.builder import build_gan

ICR_DIR = os.path.join(ROOT, "gin_configs", "icr")
CONFIGS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ICR_DIR, "[!_]*.gin")))

EXPECTED_TERMS = {
    "wo": ([], []),
    "cr": (["consistency"], []),
    "bcr": (["balanced_consistency"], []),
    "zcr": (["latent_consistency_discriminator"], ["latent_consistency_generator"]),
    "icr": (["balanced_consistency", "latent_consistency_discriminator"], ["latent_consistency_generator"]),
    "gp": (["wgan_gradient_penalty"], []),
    "dragan": (["dragan"], []),
    "jsr": (["jensen_shannon"], []),
}


def test_the_paper_settings_are_all_shipped():
    for base in ("sndcgan_cifar10", "resnet_cifar10"):
        for method in ("cr", "bcr", "zcr", "icr", "gp", "dragan", "jsr"):
            assert f"{base}_{method}.gin" in CONFIGS
    for method in ("cr", "icr"):
        assert f"sndcgan_celeba_{method}.gin" in CONFIGS
    for method in ("wo", "cr", "bcr", "zcr", "icr"):
        assert f"fashion_mnist_{method}.gin" in CONFIGS


@pytest.mark.parametrize("name", CONFIGS)
def test_method_config_builds_its_gan_with_its_terms(name):
    config.parse([f"icr/{name}"])
    shape = dict(num_classes=gin.query_parameter("bench.num_classes"),
                 image_size=gin.query_parameter("bench.image_size"),
                 channels=gin.query_parameter("bench.channels"))
    gan = build_gan(**shape)
    method = os.path.splitext(name)[0].rsplit("_", 1)[1]
    d_names, g_names = EXPECTED_TERMS[method]
    assert [t.name for t in gan.d_terms] == d_names
    assert [t.name for t in gan.g_terms] == g_names
    assert gan.generator.image_size == shape["image_size"]


def test_fashion_mnist_icr_config_trains_a_step_with_every_term_finite():
    config.parse(["icr/fashion_mnist_icr"], ["sndcgan_generator.ch = 8", "sndcgan_discriminator.ch = 8",
                                            "sndcgan_generator.z_dim = 16"])
    gan = build_gan(num_classes=10, image_size=32, channels=1)
    gan.build_all()
    images = tf.random.stateless_uniform([8, 32, 32, 1], seed=[0, 1], minval=-1, maxval=1)
    logs = gan.train_step((images, tf.range(8) % 10))
    for key in ("d_balanced_consistency", "d_latent_consistency_discriminator", "g_latent_consistency_generator"):
        assert np.isfinite(float(logs[key])), key
    assert float(logs["d_balanced_consistency"]) > 0
    assert float(logs["g_latent_consistency_generator"]) < 0
