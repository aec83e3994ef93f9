"""Benchmarks of training iterations and of the input pipeline (the library side of
`python -m tfgan_icr.bench`)."""

import os
import platform
import resource
import time

import gin


def peak_rss_mb():
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _device():
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    return f"{len(gpus)} GPU(s)" if gpus else f"CPU ({os.cpu_count()} cores, {platform.machine()})"


@gin.configurable(denylist=["iterations", "warmup"])
def bench(iterations, warmup, image_size=32, channels=3, num_classes=0, batch_size=None,
          strategy_fn=None):
    """Time training iterations on synthetic data of shape [image_size, image_size, channels].

    image_size / channels / num_classes: the shape the config's data would have (configs bind
    them, so no dataset is loaded). batch_size defaults to train.batch_size.
    """
    import keras
    import tensorflow as tf

    from tfgan_icr.training.builder import build_gan
    from tfgan_icr.training.distribute import make_strategy

    batch_size = batch_size or _bound("train.batch_size", 64)
    seed = _bound("train.seed", 0)
    strategy = (strategy_fn or make_strategy)()
    with strategy.scope():
        gan = build_gan(num_classes=num_classes, image_size=image_size, channels=channels, seed=seed)
        gan.build_all()
    per_iteration = gan.n_dis * batch_size
    rng = tf.random.Generator.from_seed(seed)
    images = tf.clip_by_value(rng.normal([per_iteration, image_size, image_size, channels]), -1, 1)
    labels = rng.uniform([per_iteration], 0, max(num_classes, 1), dtype=tf.int32)
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()

    class Timer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_end(self, logs=None):
            self.seconds = time.perf_counter() - self.start

    gan.fit(dataset, epochs=1, steps_per_epoch=max(warmup, 1), verbose=0, shuffle=False)
    timer = Timer()
    gan.fit(dataset, epochs=1, steps_per_epoch=iterations, verbose=0, callbacks=[timer],
            shuffle=False)
    seconds_per_iteration = timer.seconds / iterations
    return {
        "mode": "train",
        "iterations": iterations,
        "iterations_per_second": 1.0 / seconds_per_iteration,
        # Real images the discriminator consumes per second (n_dis batches per iteration).
        "images_per_second": per_iteration / seconds_per_iteration,
        "seconds_per_iteration": seconds_per_iteration,
        "peak_rss_mb": peak_rss_mb(),
        "batch_size": batch_size,
        "n_dis": gan.n_dis,
        "replicas": strategy.num_replicas_in_sync,
        "generator_params": int(sum(v.shape.num_elements() for v in gan.generator.trainable_variables)),
        "discriminator_params": int(sum(v.shape.num_elements() for v in gan.discriminator.trainable_variables)),
        "image_shape": [image_size, image_size, channels],
        "num_classes": num_classes,
        "device": _device(),
    }


def _bound(name, default):
    try:
        return gin.query_parameter(name)
    except ValueError:
        return default


def bench_pipeline(batches, warmup):
    """Images/s of the configured input pipeline on the real data (what training would read)."""
    from tfgan_icr.data import make_dataset

    source = gin.query_parameter("train.source")
    if isinstance(source, gin.config.ConfigurableReference):  # @fashion_mnist(): call it now
        source = source.scoped_configurable_fn()
    batch_size = _bound("train.batch_size", 64)
    dataset = make_dataset(source, batch_size=batch_size, seed=_bound("train.seed", 0))
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)[0].numpy()
    seconds = time.perf_counter() - start
    return {"mode": "pipeline", "batches": batches, "batch_size": batch_size,
            "images_per_second": batches * batch_size / seconds, "seconds_per_batch": seconds / batches,
            "peak_rss_mb": peak_rss_mb(), "source": getattr(source, "name", str(source)),
            "device": _device()}


def bench_folder_pipeline(data_dir, image_size=128, batch_size=64, batches=50, warmup=10,
                          seed=0, resize_method="center_crop_area"):
    """Images/s of make_dataset on a folder of class folders of JPEGs (no gin config needed):
    lazy parallel decode, centre crop + area resize to image_size, shuffled, batched, converted
    to float [-1, 1]. The first `warmup` batches (tf.data autotuning, file cache) are untimed."""
    from tfgan_icr.data import imagenet_folder, make_dataset

    started = time.perf_counter()
    source = imagenet_folder(data_dir, image_size=image_size)
    listing_seconds = time.perf_counter() - started
    dataset = make_dataset(source, batch_size=batch_size, image_size=image_size, seed=seed,
                           resize_method=resize_method)
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        images = next(iterator)[0].numpy()
    seconds = time.perf_counter() - start
    names = source.class_names or ()
    return {"mode": "pipeline", "data_dir": data_dir, "num_files": source.num_examples,
            "num_classes": source.num_classes,
            "class_index_head": {n: source.class_index[n] for n in names[:3]},
            "listing_seconds": listing_seconds, "batches": batches, "warmup": warmup,
            "batch_size": batch_size, "output_shape": list(images.shape),
            "images_per_second": batches * batch_size / seconds,
            "seconds_per_batch": seconds / batches,
            "decode": "tf.io.read_file + tf.io.decode_image (RGB) per file, tf.data map "
                      "num_parallel_calls=AUTOTUNE, deterministic order",
            "resize": f"{resize_method} to {image_size}x{image_size} (centre square crop of the "
                      "short side, then tf.image.resize method='area')",
            "peak_rss_mb": peak_rss_mb(), "cpu_count": os.cpu_count(), "device": _device()}
