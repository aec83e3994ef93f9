"""ImageNet 2012 (ILSVRC2012) at full scale: through TFDS, or from a folder of class folders.

TFDS (`imagenet2012`) cannot download ImageNet: the two tar files must be fetched by hand
from image-net.org and put in TFDS's manual folder, then prepared once:

    mkdir -p ~/tensorflow_datasets/downloads/manual
    mv ILSVRC2012_img_train.tar ILSVRC2012_img_val.tar ~/tensorflow_datasets/downloads/manual/
    tfds build imagenet2012 [--data_dir DIR] [--manual_dir DIR]

`imagenet2012()` never starts that preparation unless asked (`prepare=True`), and fails at
once, in one line, when neither the prepared data nor the tar files are there.

A folder (``root/n01440764/*.JPEG``, one sub-folder per class, the layout of the extracted
train tar) goes through `image_folder`; `imagenet_folder` is that with the settings an
ImageNet-size folder needs (no per-file check before training, RGB).

`write_synthetic_folder` writes a stand-in folder of random JPEGs (for the pipeline bench and
tests).
"""

from __future__ import annotations

import os

import gin
import numpy as np

from tfgan_icr.data.sources import Source, image_folder, tfds_dataset
from tfgan_icr.errors import DataError

IMAGENET_TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
IMAGENET_TFDS_NAME = "imagenet2012"


def default_tfds_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def _missing_tars(manual_dir: str) -> list[str]:
    return [t for t in IMAGENET_TARS if not os.path.isfile(os.path.join(manual_dir, t))]


@gin.configurable
def imagenet2012(split: str = "train", data_dir: str | None = None,
                 manual_dir: str | None = None, prepare: bool = False,
                 in_memory: bool = False, builder_fn=None) -> Source:
    """ImageNet 2012 from TFDS ("train": 1,281,167 images, "validation": 50,000; 1000 classes).

    Streams the prepared TFDS records (variable-size JPEGs: give make_dataset an image_size,
    e.g. resize_method="center_crop_area"). Streams are shuffled with a buffer, so resume is
    not exact (module docstring of tfgan_icr.data.pipeline); per-worker sharding reads
    disjoint record files.

    Args:
      split: TFDS split ("train", "validation", slices such as "train[:1%]").
      data_dir: TFDS data folder (None: $TFDS_DATA_DIR or ~/tensorflow_datasets).
      manual_dir: folder with ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar (None:
        DATA_DIR/downloads/manual, TFDS's default).
      prepare: when the data is not prepared yet, prepare it from the tar files (hours).
        Nothing is ever downloaded.
      in_memory: load the split into memory (only for tiny slices).
      builder_fn: for tests, a replacement for tfds.builder(name, data_dir=...).
    """
    import tensorflow_datasets as tfds  # Imported lazily: it is slow to import.

    data_dir = os.path.expanduser(data_dir) if data_dir else default_tfds_dir()
    manual_dir = (os.path.expanduser(manual_dir) if manual_dir
                  else os.path.join(data_dir, "downloads", "manual"))
    builder = (builder_fn or tfds.builder)(IMAGENET_TFDS_NAME, data_dir=data_dir)
    if not builder.is_prepared():
        missing = _missing_tars(manual_dir)
        command = f"tfds build {IMAGENET_TFDS_NAME} --data_dir {data_dir} --manual_dir {manual_dir}"
        if missing:
            raise DataError(
                f"ImageNet 2012 is not prepared in {data_dir} and {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not in the TFDS manual_dir {manual_dir}: "
                f"download the tar files from image-net.org into {manual_dir}, then run "
                f"`{command}` (or set imagenet2012.prepare=True)")
        if not prepare:
            raise DataError(
                f"ImageNet 2012 is not prepared in {data_dir} (the tar files are in "
                f"{manual_dir}): run `{command}` or set imagenet2012.prepare=True")
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return tfds_dataset(IMAGENET_TFDS_NAME, split=split, data_dir=data_dir, download=False,
                        in_memory=in_memory, builder=builder)


@gin.configurable
def imagenet_folder(path: str, image_size=128, verify: str = "none") -> Source:
    """A folder of class sub-folders of JPEGs (``path/n01440764/*.JPEG``), labels from the
    sorted folder names (`Source.class_index`), RGB, files listed but not opened up front.

    Pair it with make_dataset(resize_method="center_crop_area") for BigGAN's preparation
    (centre square crop, then area resize to image_size). A corrupt file stops training with
    its name (found after the decode error).
    """
    return image_folder(path, image_size=image_size, verify=verify, channels=3)


def write_synthetic_folder(root: str, num_images: int, num_classes: int = 10,
                           size: int = 256, seed: int = 0, quality: int = 90) -> list[str]:
    """Writes `num_images` random size x size RGB JPEGs into root/class_XX/ (round robin over
    `num_classes` class folders) and returns the class folder names. Smooth random images
    (a low-resolution noise field upsampled) so that JPEG sizes are photo-like (~10-30 KB)."""
    from PIL import Image

    if num_images < 1 or num_classes < 1:
        raise DataError(f"write_synthetic_folder needs num_images and num_classes >= 1, got "
                        f"{num_images} and {num_classes}")
    rng = np.random.default_rng(seed)
    names = [f"class_{k:02d}" for k in range(num_classes)]
    for name in names:
        os.makedirs(os.path.join(root, name), exist_ok=True)
    for i in range(num_images):
        coarse = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
        noise = rng.integers(-12, 13, (size, size, 3))
        pixels = np.clip(np.asarray(image, np.int32) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(
            os.path.join(root, names[i % num_classes], f"img_{i:07d}.JPEG"), quality=quality)
    return names
