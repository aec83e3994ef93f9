"""The ICR ablation on Fashion-MNIST: W/O, CR, bCR, zCR and ICR (and optionally lazy ICR),
trained with identical seeds and budget, each evaluated with the standard FID network; prints
a table of FID per method and seed with mean and std, and writes it to <out>/ablation.json.

    scripts/python scripts/icr_ablation.py --steps=2000 --seeds=0,1,2 --num_samples=2000

Every run is an ordinary `python -m tfgan_icr.main` run of gin_configs/icr/fashion_mnist_<m>.gin
in <out>/<m>_seed<s>; an existing finished run is reused, so the script can be resumed.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAZY_ICR = ["build_gan.d_terms = [@bcr/term(), @zcr/term()]", "bcr/term.fn = @balanced_consistency",
            "zcr/term.fn = @latent_consistency_discriminator", "bcr/term.every = 4", "zcr/term.every = 4"]
METHODS = {"wo": ("fashion_mnist_wo", []), "cr": ("fashion_mnist_cr", []),
           "bcr": ("fashion_mnist_bcr", []), "zcr": ("fashion_mnist_zcr", []),
           "icr": ("fashion_mnist_icr", []), "lazy_icr": ("fashion_mnist_icr", LAZY_ICR)}


def last_eval(model_dir, num_samples):
    path = os.path.join(model_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    evals = [r for r in map(json.loads, open(path)) if r.get("event") == "eval"
             and r.get("num_generated", r.get("num_samples")) in (None, num_samples)]
    return evals[-1] if evals else None


def run(args, *extra):
    cmd = [sys.executable, "-m", "tfgan_icr.main", *extra]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def arguments(description, default_variants, default_out, default_steps=2000, default_samples=2000):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=default_steps)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=default_variants, help="comma-separated variants to train")
    parser.add_argument("--num_samples", type=int, default=default_samples, help="generated images per FID")
    parser.add_argument("--reference_limit", type=int, default=default_samples, help="real test images per FID")
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", default_out))
    parser.add_argument("--bindings", action="append", default=[], help="extra gin bindings for every run")
    return parser.parse_args()


def study(variants, args, summary_name):
    """Train and evaluate every variant ``{name: (gin config, bindings)}`` of ``args.methods``
    with each seed; print the FID table and write it to ``<out>/<summary_name>``."""
    seeds = [int(s) for s in args.seeds.split(",")]
    table, started = {}, time.time()
    for method in args.methods.split(","):
        config, bindings = variants[method]
        for seed in seeds:
            model_dir = os.path.join(args.out, f"{method}_seed{seed}")
            flags = [f"--gin_config={config}", f"--model_dir={model_dir}"]
            common = [f"--gin_bindings={b}" for b in (f"train.seed = {seed}", *bindings, *args.bindings)]
            run(args, *flags, *common, f"--steps={args.steps}")
            result = last_eval(model_dir, args.num_samples)
            if result is None or result["step"] != args.steps:
                run(args, "--mode=eval", *flags, *common, f"--num_samples={args.num_samples}",
                    f"--gin_bindings=Evaluator.reference_limit = {args.reference_limit}")
                result = last_eval(model_dir, args.num_samples)
            table.setdefault(method, {})[seed] = result
    label = next(iter(next(iter(table.values())).values()))["fid_label"]
    print(f"\n{label}; {args.steps} iterations, batch 64, seeds {seeds}; "
          f"{(time.time() - started) / 60:.0f} min wall\n")
    print("| variant | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | std |")
    print("|---|" + "---|" * (len(seeds) + 2))
    summary = {}
    for method, by_seed in table.items():
        fids = [by_seed[s]["fid"] for s in seeds]
        mean = statistics.mean(fids)
        std = statistics.stdev(fids) if len(fids) > 1 else float("nan")
        summary[method] = {"fids": fids, "mean": mean, "std": std}
        print(f"| {method} | " + " | ".join(f"{f:.2f}" for f in fids) + f" | {mean:.2f} | {std:.2f} |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, summary_name), "w") as f:
        json.dump({"label": label, "steps": args.steps, "seeds": seeds, "num_samples": args.num_samples,
                   "reference_limit": args.reference_limit, "results": summary}, f, indent=1)
    return summary


def main():
    args = arguments(__doc__.split("\n\n")[0], "wo,cr,bcr,zcr,icr", "icr_ablation")
    study({name: (f"icr/{config}", bindings) for name, (config, bindings) in METHODS.items()}, args,
          "ablation.json")


if __name__ == "__main__":
    main()
