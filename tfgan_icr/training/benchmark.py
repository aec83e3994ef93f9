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


@gin.configurable(denylist=["iterations", "warmup", "count_flops", "measure_conv_rate",
                             "breakdown", "profile_dir", "profile_steps", "measure_own_shapes"])
def bench(iterations, warmup, image_size=32, channels=3, num_classes=0, batch_size=None,
          strategy_fn=None, count_flops=True, measure_conv_rate=False, breakdown=False,
          profile_dir=None, profile_steps=2, measure_own_shapes=False):
    """Time training iterations on synthetic data of shape [image_size, image_size, channels].

    image_size / channels / num_classes: the shape the config's data would have (configs bind
    them, so no dataset is loaded). batch_size defaults to train.batch_size.
    count_flops: add the iteration's FLOP count (`training.flops`) and the achieved GFLOP/s.
    measure_conv_rate: also time this machine's 3x3 convolution (`conv_rate`) in the step's
    compute dtype, and give the achieved rate as a fraction of it.
    breakdown: also time the iteration's parts apart (`iteration_breakdown`).
    measure_own_shapes: also time each of the step's convolutions and matrix products alone at
    its own shape (`own_shape_rates`; single device), and give the step's dense-op seconds
    at those rates as a fraction of its real seconds.
    profile_dir: after the timed iterations, write a TensorBoard profile of `profile_steps`
    more iterations there.
    """
    import keras
    import tensorflow as tf

    from tfgan_icr.training.builder import build_gan
    from tfgan_icr.training.distribute import make_strategy
    from tfgan_icr.training.flops import train_step_flops
    from tfgan_icr.training.precision import compute_dtype

    batch_size = batch_size or _bound("train.batch_size", 64)
    seed = _bound("train.seed", 0)
    strategy = (strategy_fn or make_strategy)()
    with strategy.scope():
        gan = build_gan(num_classes=num_classes, image_size=image_size, channels=channels, seed=seed)
        gan.build_all()
    if breakdown:  # refused before anything is timed
        check_breakdown(gan, strategy.num_replicas_in_sync)
    if measure_own_shapes and strategy.num_replicas_in_sync > 1:
        from tfgan_icr.errors import ConfigError
        raise ConfigError("--own_shapes times the ops of a single-device step: drop the "
                          "make_strategy binding, or drop --own_shapes")
    if profile_dir:
        _check_writable(profile_dir)
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
    result = {
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
        "precision": gan.precision,
        "jit_compile": gan.jit_compile is True,
        "device": _device(),
    }
    replica_batch = batch_size // strategy.num_replicas_in_sync
    shape = (image_size, image_size, channels)
    if count_flops or measure_own_shapes:
        counted = train_step_flops(gan, replica_batch, shape, strategy, with_signatures=measure_own_shapes)
        result.update(_utilisation(counted, seconds_per_iteration))
    if measure_own_shapes:
        own = own_shape_rates(counted["dense_ops"])
        result["own_shape_rates"] = own
        result["utilisation_of_own_shapes"] = own["seconds"] / seconds_per_iteration
    if measure_conv_rate:
        rate = conv_rate(compute_dtype(gan.precision))
        result["conv_rate"] = rate
        if "gflop_per_second" in result:
            result["utilisation_of_conv_rate"] = result["gflop_per_second"] / rate["gflop_per_second"]
    if breakdown:
        result["breakdown"] = iteration_breakdown(gan, replica_batch, shape, repeats=iterations,
                                                  replicas=strategy.num_replicas_in_sync)
    if profile_dir:
        result["profile"] = write_profile(gan, dataset, profile_dir, profile_steps)
    return result


def _utilisation(counted, seconds_per_iteration):
    from tfgan_icr.training.flops import CONVENTION

    return {"flop_per_iteration": counted["flop"],
            "conv_matmul_flop_per_iteration": counted["conv_matmul_flop"],
            "gflop_per_second": counted["flop"] / seconds_per_iteration / 1e9,
            "flop_convention": CONVENTION,
            "flop_by_op": dict(list(counted["flop_by_op"].items())[:8]),
            "flop_unknown_shape_ops": counted["unknown_shape_ops"]}


@gin.configurable(denylist=["dtype"])
def conv_rate(dtype="float32", batch_size=64, size=16, channels=256, kernel=3, min_seconds=2.0,
              warmup=2):
    """This machine's rate (GFLOP/s) for a forward 2-D convolution: ``[batch_size, size, size,
    channels]`` inputs, a ``kernel x kernel`` kernel to ``channels`` outputs, SAME padding,
    stride 1, in ``dtype``; called for at least ``min_seconds`` after ``warmup`` calls. A
    ResNet-like layer, so the figure is close to the arithmetic limit a GAN step can reach."""
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(0)
    images = tf.cast(rng.normal([batch_size, size, size, channels]), dtype)
    kernels = tf.cast(rng.normal([kernel, kernel, channels, channels]) * 0.01, dtype)
    conv = tf.function(lambda x, w: tf.reduce_sum(tf.nn.conv2d(x, w, 1, "SAME")))
    calls, seconds = _called_for(lambda: conv(images, kernels).numpy(), min_seconds, warmup, min_calls=3)
    flop = 2 * batch_size * size * size * channels * channels * kernel * kernel
    return {"dtype": str(dtype), "shape": f"{batch_size}x{size}x{size}x{channels} -> {channels}, "
                                          f"{kernel}x{kernel} SAME", "calls": calls, "seconds": seconds,
            "flop_per_call": flop, "gflop_per_second": flop * calls / seconds / 1e9}


def _remade_op(signature, rng):
    """A tf.function running one dense op of `flops.dense_op_signatures` alone, on random
    inputs of its shapes and dtypes (integer inputs with their traced values); it returns one
    element of the result, so that calling it costs the op and not a copy of its output."""
    import tensorflow as tf

    captured = {}
    for name, spec in signature["inputs"].items():
        if spec[0] == "value":
            captured[name] = tf.constant(spec[1], dtype=spec[3], shape=spec[2])
        else:
            captured[name] = tf.cast(rng.normal(spec[1]), spec[2])
    raw = getattr(tf.raw_ops, signature["type"])
    attributes = signature["attributes"]
    return tf.function(lambda: tf.reshape(raw(**captured, **attributes), [-1])[:1])


def _describe(signature):
    shapes = [f"{'x'.join(map(str, spec[1]))}" if spec[0] == "shape" else f"sizes {list(spec[1])}"
              for spec in signature["inputs"].values()]
    attributes = signature["attributes"]
    extra = [f"strides {list(attributes['strides'][1:3])}"] if "strides" in attributes else []
    extra += [k for k in ("transpose_a", "transpose_b", "adj_x", "adj_y") if attributes.get(k)]
    return f"{signature['type']} {', '.join(shapes)} {' '.join(extra)}".strip()


def own_shape_rates(signatures, min_seconds=0.1, dearest=6):
    """Each of a step's dense ops (`flops.dense_op_signatures`) timed alone at its own shape,
    for at least ``min_seconds`` (after one untimed call): how long the step's convolutions and
    matrix products take when each runs as fast as this machine runs that shape alone, the
    rate that gives (the config's own ceiling, which thin or small-spatial layers put below
    `conv_rate`), and the ``dearest`` signatures by their seconds per iteration, with their
    rates. Each call includes one function dispatch (tens of microseconds), which only the
    tiny products (the spectral-norm power iterations) notice."""
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(0)
    timed = []
    for signature in signatures:
        fn = _remade_op(signature, rng)
        calls, total = _called_for(lambda: fn().numpy(), min_seconds, warmup=1, min_calls=2)
        seconds = total / calls
        timed.append({"op": _describe(signature), "calls_per_iteration": signature["calls"],
                      "flop_per_call": signature["flop"], "seconds_per_call": seconds,
                      "gflop_per_second": signature["flop"] / seconds / 1e9})
    seconds = sum(t["seconds_per_call"] * t["calls_per_iteration"] for t in timed)
    flop = sum(t["flop_per_call"] * t["calls_per_iteration"] for t in timed)
    for t in timed:
        t["share_of_seconds"] = t["seconds_per_call"] * t["calls_per_iteration"] / seconds
    by_seconds = sorted(timed, key=lambda t: -t["share_of_seconds"])
    return {"signatures": len(timed), "flop": flop, "seconds": seconds,
            "gflop_per_second": flop / seconds / 1e9, "dearest": by_seconds[:dearest]}


def _called_for(fn, min_seconds, warmup, min_calls):
    """Call ``fn`` ``warmup`` times (at least once: the trace), then until at least
    ``min_calls`` calls and ``min_seconds`` have passed; returns (calls, seconds)."""
    for _ in range(max(warmup, 1)):
        fn()
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_seconds:
        fn()
        calls += 1
    return calls, time.perf_counter() - start


def _timed(fn, repeats):
    """Mean seconds of ``fn()`` over ``repeats`` calls after one untimed call (the trace)."""
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def check_breakdown(gan, replicas):
    from tfgan_icr.errors import ConfigError

    if replicas > 1 or gan.accumulation_steps > 1 or gan.growth is not None:
        raise ConfigError("--breakdown times the parts of a single-device step without gradient "
                          "accumulation or growth: drop make_strategy / accumulation_steps / "
                          "growth_fn bindings, or drop --breakdown")


def iteration_breakdown(gan, batch_size, image_shape, repeats=2, replicas=1):
    """Seconds and FLOP of one iteration's parts, each traced and timed on its own (the same
    methods the step runs): (a) the n_dis generator forward passes that make D's fake batches,
    (b) the n_dis D updates without them (D forward on real and fake, the terms, backward,
    optimizer), (c) the G update (G and D forward, backward to G, optimizer)."""
    import tensorflow as tf

    from tfgan_icr import sampling
    from tfgan_icr.training.flops import function_flops

    check_breakdown(gan, replicas)
    rng = tf.random.Generator.from_seed(1)
    real = tf.clip_by_value(rng.normal([batch_size, *image_shape]), -1, 1)
    real_labels = rng.uniform([batch_size], 0, max(gan.num_classes, 1), dtype=tf.int32)
    z, fake_labels = gan.sample_inputs(batch_size, salt=sampling.SALTS["d_update_inputs"])
    fake = gan.generator(z, fake_labels, training=True)
    variables = gan.discriminator.trainable_variables
    jit = gan.jit_compile is True

    def d_update(real, real_labels, fake, fake_labels, z):
        grads, logs = gan._d_gradients(real, real_labels, fake, fake_labels, z, 0, 0, variables)
        return gan._apply(gan.d_optimizer, "d", grads, variables, logs)

    parts = {
        "generator_passes": (tf.function(lambda z, y: gan.generator(z, y, training=True), jit_compile=jit),
                             (z, fake_labels)),
        "discriminator_updates": (tf.function(d_update, jit_compile=jit),
                                  (real, real_labels, fake, fake_labels, z)),
        "generator_update": (tf.function(lambda: gan._g_update(batch_size), jit_compile=jit), ()),
    }
    times = {"generator_passes": gan.n_dis, "discriminator_updates": gan.n_dis, "generator_update": 1}
    result = {}
    for name, (fn, args) in parts.items():
        seconds = _timed(lambda: fn(*args), repeats) * times[name]
        counted = function_flops(fn, *args)
        flop = counted["flop"] * times[name]
        result[name] = {"seconds": seconds, "flop": flop, "gflop_per_second": flop / seconds / 1e9,
                        "conv_matmul_flop": counted["conv_matmul_flop"] * times[name],
                        "calls_per_iteration": times[name]}
    result["sum_seconds"] = sum(part["seconds"] for part in result.values())
    return result


def _check_writable(folder):
    from tfgan_icr.errors import ConfigError

    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--profile={folder}: cannot create that folder ({error.strerror}): "
                          "give a writable one") from error
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"--profile={folder} is not writable: give a writable folder")


def write_profile(gan, dataset, logdir, steps):
    """A TensorBoard profile (trace viewer, op statistics) of ``steps`` training iterations,
    written under ``logdir``/plugins/profile/; the files written."""
    import tensorflow as tf

    tf.profiler.experimental.start(logdir)
    try:
        gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    finally:
        tf.profiler.experimental.stop()
    return {"dir": logdir, "steps": steps,
            "files": sorted(os.path.relpath(os.path.join(d, f), logdir)
                            for d, _, names in os.walk(logdir) for f in names)}


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
