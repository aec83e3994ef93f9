"""SavedModel export of a trained generator, in TensorFlow Serving's directory layout.

`export_generator(gan, export_dir)` writes `export_dir/<version>/` (saved_model.pb, variables/)
and `export_dir/<version>/tfgan_icr_export.json`. The SavedModel needs only TensorFlow to
load (`tf.saved_model.load`), not this package, and has two signatures:

* ``serving_default(z float32 [N, z_dim], labels int32 [N] (conditional models only),
  truncation float32 []) -> {"images": uint8 [N, H, W, C]}``. The caller draws z; a
  truncation > 0 clips it to [-truncation, truncation] (a caller who wants BigGAN's redraw
  rule draws z that way; clipping is the part that can be applied to a given z), and
  truncation <= 0 leaves z as given.
* ``sample(count int32 [], seed int64 [], labels int32 [count] (conditional only))
  -> {"images": uint8 [count, H, W, C]}``. z is drawn inside from the stateless seed pair
  (seed, SALTS["exported_samples"]), as `--mode=sample --num_samples` draws its first batch,
  with the run's gin `inference.truncation` (BigGAN's redraw rule, `sampling.truncated_normal`)
  when one is set at export time, else untruncated. Same seed, same images.

Inputs of the wrong dtype are refused before the graph runs; of the wrong shape, by an
InvalidArgumentError "Shape of tensor z [4,17] is not compatible with expected shape [?,16]"
(through a signature) or a TypeError naming the input (through the restored tf.functions
`loaded.serving_default` / `loaded.sample`). Images are ``(x + 1) * 127.5``, rounded half to even and clipped to [0, 255], as
`images.to_uint8` does. Labels outside [0, num_classes) and a `sample` labels vector whose
length is not `count` fail with an InvalidArgumentError naming the input.
"""

import json
import os
import re
import shutil

import tensorflow as tf

from tfgan_icr import sampling
from tfgan_icr.errors import RunDirError
from tfgan_icr.files import write_text_atomically

METADATA_FILE = "tfgan_icr_export.json"
_VERSION = re.compile(r"^[0-9]+$")


def to_uint8(images):
    """Float images in [-1, 1] -> uint8 [0, 255], in TensorFlow (the graph twin of images.to_uint8)."""
    images = tf.cast(images, tf.float32)
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


class GeneratorExport(tf.Module):
    """The exported object: the generator's variables and the two signature functions."""

    def __init__(self, generator, z_dim, num_classes, sample_truncation=None):
        super().__init__(name="tfgan_icr_generator")
        # The Keras model itself stays out of the saved object graph (as a child it would add
        # Keras's own one-input `_default_save_signature`, traced without labels); its
        # variables are saved through this list, and the signature functions reach the
        # network by closure.
        self.generator_variables = [getattr(v, "value", v) for v in generator.variables]
        self._generate = lambda z, labels: generator(z, labels, training=False)
        self.z_dim = int(z_dim)
        self.num_classes = int(num_classes)
        self.sample_truncation = sample_truncation
        z_spec = tf.TensorSpec([None, self.z_dim], tf.float32, name="z")
        truncation_spec = tf.TensorSpec([], tf.float32, name="truncation")
        count_spec = tf.TensorSpec([], tf.int32, name="count")
        seed_spec = tf.TensorSpec([], tf.int64, name="seed")
        labels_spec = tf.TensorSpec([None], tf.int32, name="labels")
        if self.num_classes:
            self.serving_default = tf.function(
                lambda z, labels, truncation: self._images(self._truncate(self._checked_z(z), truncation), labels),
                input_signature=[z_spec, labels_spec, truncation_spec])
            self.sample = tf.function(
                lambda count, seed, labels: self._images(self._sampled_z(count, seed),
                                                         self._check_count(labels, count)),
                input_signature=[count_spec, seed_spec, labels_spec])
        else:
            self.serving_default = tf.function(
                lambda z, truncation: self._images(self._truncate(self._checked_z(z), truncation), None),
                input_signature=[z_spec, truncation_spec])
            self.sample = tf.function(
                lambda count, seed: self._images(self._sampled_z(count, seed), None),
                input_signature=[count_spec, seed_spec])

    def signatures(self):
        return {"serving_default": self.serving_default.get_concrete_function(),
                "sample": self.sample.get_concrete_function()}

    def _images(self, z, labels):
        if labels is not None:
            labels = tf.ensure_shape(labels, [None], name="labels_shape")
            labels = self._check_labels(labels, tf.shape(z)[0])
        return {"images": to_uint8(self._generate(z, labels))}

    def _checked_z(self, z):
        # The input spec binds callers of the tf.function; a signature call (TF Serving, or
        # `loaded.signatures[...]`) is checked here, at run time.
        return tf.ensure_shape(z, [None, self.z_dim], name="z_shape")

    @staticmethod
    def _truncate(z, truncation):
        truncation = tf.ensure_shape(truncation, [], name="truncation_shape")
        return tf.cond(truncation > 0, lambda: tf.clip_by_value(z, -truncation, truncation), lambda: z)

    def _sampled_z(self, count, seed):
        tf.debugging.assert_non_negative(count, message="sample: count must be >= 0")
        seed_pair = tf.stack([seed, tf.constant(sampling.SALTS["exported_samples"], tf.int64)])
        return sampling.truncated_normal(tf.stack([count, self.z_dim]), self.sample_truncation, seed=seed_pair)

    @staticmethod
    def _check_count(labels, count):
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.shape(labels)[0], count, message="sample: labels must have `count` entries")]):
            return tf.identity(labels)

    def _check_labels(self, labels, batch):
        checks = [
            tf.debugging.assert_equal(tf.shape(labels)[0], batch,
                                      message="labels must have one entry per row of z"),
            tf.debugging.assert_non_negative(labels, message="labels must be >= 0"),
            tf.debugging.assert_less(labels, self.num_classes,
                                     message=f"labels must be < num_classes = {self.num_classes}"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(labels)


def next_version(export_dir):
    """1, or one more than the largest integer-named directory in export_dir."""
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if _VERSION.match(name)]
    return max(versions, default=0) + 1


def read_best(model_dir):
    """model_dir/best/best.json (written by PeriodicEvaluation), or None."""
    path = os.path.join(model_dir, "best", "best.json") if model_dir else None
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def export_generator(gan, export_dir, version=None, use_ema=True, model_dir=None, config_name=None,
                     net=None, sample_truncation=None):
    """Write the (EMA) generator of `gan` as `export_dir/<version>/` (a SavedModel) with its
    metadata JSON; return that directory. `version`: an integer, default the next free one.
    `net`: the network to export (default gan.inference_generator(use_ema)), e.g. the one a
    standing-statistics block yields. Written into a temporary directory and renamed, so a
    failed export leaves no version directory behind."""
    net = net or gan.inference_generator(use_ema)
    version = next_version(export_dir) if version is None else int(version)
    if version < 1:
        raise RunDirError(f"export version must be an integer >= 1, got {version}")
    final = os.path.join(export_dir, str(version))
    if os.path.exists(final):
        raise RunDirError(f"{final} exists already: pick another version or export_dir, or leave the "
                          f"version unset for the next free one")
    step = int(gan.global_step.numpy())
    module = GeneratorExport(net, gan.generator.z_dim, gan.num_classes, sample_truncation)
    signatures = module.signatures()
    image_shape = [int(d) for d in signatures["serving_default"].structured_outputs["images"].shape[1:]]
    best = read_best(model_dir)
    metadata = {
        "format": "tfgan_icr generator SavedModel, version 1",
        "z_dim": module.z_dim,
        "num_classes": module.num_classes,
        "image_shape": image_shape,
        "step": step,
        "config_name": config_name,
        "generator": "ema" if net is gan.ema_generator else "generator",
        "sample_truncation": sample_truncation,
        "fid": best["fid"] if best and best.get("step") == step else None,
        "best_recorded": ({k: best.get(k) for k in ("step", "fid", "label")} if best else None),
        "signatures": {
            "serving_default": ["z", "labels", "truncation"] if module.num_classes else ["z", "truncation"],
            "sample": ["count", "seed", "labels"] if module.num_classes else ["count", "seed"],
        },
    }
    created = not os.path.exists(export_dir)
    os.makedirs(export_dir, exist_ok=True)
    tmp = os.path.join(export_dir, f".tmp-{version}-{os.getpid()}")
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        write_text_atomically(os.path.join(tmp, METADATA_FILE), json.dumps(metadata, indent=1) + "\n")
        os.rename(tmp, final)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            if created:
                shutil.rmtree(export_dir, ignore_errors=True)
    return final
