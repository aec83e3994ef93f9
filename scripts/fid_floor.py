"""FID/KID between two real splits (the floor a generator can reach), e.g. Fashion-MNIST
test vs train:

    python scripts/fid_floor.py --num_examples=2000

Both splits go through the same pipeline as evaluation (32x32, [-1, 1]) and the same cached
reference statistics, so the number is comparable to `--mode=eval` results."""

import json
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_examples", 2000, "images taken from each split (the first N)")
flags.DEFINE_string("network", "auto", "FID network source (see tfgan_icr.eval.load_inception)")
flags.DEFINE_integer("image_size", 32, "resolution both splits are brought to")


def main(argv):
    del argv
    from tfgan_icr.data import fashion_mnist
    from tfgan_icr.eval.evaluator import Evaluator

    test = Evaluator(reference_source=fashion_mnist(split="test"), reference_limit=FLAGS.num_examples,
                     network=FLAGS.network)
    train = Evaluator(reference_source=fashion_mnist(split="train"), reference_limit=FLAGS.num_examples,
                      network=test.net)
    start = time.perf_counter()
    a = test.reference_stats(FLAGS.image_size, 1)
    b = train.reference_stats(FLAGS.image_size, 1)
    seconds = time.perf_counter() - start
    kid, kid_std = a.kid(b, subset_size=min(1000, FLAGS.num_examples))
    n = FLAGS.num_examples
    print(json.dumps({
        "fid": a.fid(b), "kid": kid, "kid_std": kid_std,
        "label": f"FID {n} test vs {n} train, fashion_mnist 32x32, {test.net.name}",
        # Statistics already in the cache are read, not recomputed: seconds covers only the rest.
        "seconds": seconds,
    }))


if __name__ == "__main__":
    app.run(main)
