"""Fidelity of the supervised circuits: test accuracy beside the EBD paper's Table 1.

EBD, DFA, BP, FA and Hebb on every available dataset, mean ± sd of the final-epoch test
accuracy over seeds (the seeds run as one batched ensemble). Datasets: sklearn digits
(always; spec §2.7 small-scale defaults, 64-128-64-10, 60 epochs), Fashion-MNIST (when the
Debian package ``dataset-fashion-mnist`` or ``--fashion-dir`` is present), MNIST (when its
IDX files are in ``--mnist-dir`` / ``$BIOPLAUSIBLE_DATA/mnist``) and CIFAR-10 (python
batches in ``--cifar-dir``) with the paper's MLP architectures (784-1024-512-10,
3072-1024-512-512-10, B = 20). The paper's decorrelation rates cannot be transplanted (their
scale convention is unverified, spec §2.3), so the MLP rates here are our own choices,
printed with the table. The paper trains 120 epochs; ``--epochs`` sets ours.

    python benchmarks/supervised_accuracy.py                  # quick: digits, 3 seeds
    python benchmarks/supervised_accuracy.py --full           # + the large datasets present
    python benchmarks/supervised_accuracy.py --full --epochs 20 --workers 5
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

#: EBD paper, Table 1 (MLP): mean ± sd over 5 runs.
PUBLISHED = {
    "mnist": {"ebd": (98.2, 0.08), "direct-feedback-alignment": (98.1, 0.21), "backprop": (98.7, 0.05)},
    "cifar10": {"ebd": (55.5, 0.19), "direct-feedback-alignment": (52.1, 0.33), "backprop": (56.4, 0.33)},
}
RULES = ("backprop", "ebd", "direct-feedback-alignment", "feedback-alignment", "hebbian")

#: Our settings. digits: spec §2.7 small-scale defaults (the circuits' defaults).
DIGITS = {
    "backprop": {}, "ebd": {"forgetting": 0.9999}, "direct-feedback-alignment": {},
    "feedback-alignment": {}, "hebbian": {},
    "ebd-ascent": {"forgetting": 0.999, "learning_rate": 0.3, "sign": "ascent"},
    "ebd-regularised": {"forgetting": 0.999, "learning_rate": 0.3, "power_rate": 3e-3, "entropy_rate": 1e-3,
                        "entropy_init": 0.25},
}
#: Paper MLP sizes; rates chosen by us: the best of a small grid (BP/FA η ∈ {0.003, 0.01};
#: DFA/EBD μ_d ∈ {0.03, 0.1, 0.3}; output μ_L ∈ {0.003, 0.01}) after one epoch on the first
#: 5000 Fashion-MNIST training images, scored on training images 55000–59999 (validation).
#: μ_L = 0.05 (the digits value) diverges here: μ_L ‖h‖² > 2 for 784-pixel inputs.
LARGE = {
    "backprop": {"learning_rate": 0.01, "output_rate": 0.01},
    "ebd": {"learning_rate": 0.03, "output_rate": 0.01, "forgetting": 0.99999},
    "direct-feedback-alignment": {"learning_rate": 0.03, "output_rate": 0.01},
    "feedback-alignment": {"learning_rate": 0.01, "output_rate": 0.01},
    "hebbian": {"learning_rate": 1e-7, "output_rate": 0.01},
}
ARCHITECTURES = {"digits": (128, 64), "fashion-mnist": (1024, 512), "mnist": (1024, 512), "cifar10": (1024, 512, 512)}


def _job(job: tuple[str, str, dict, dict, list[int], int]) -> tuple[str, str, np.ndarray, float]:
    dataset, rule, options, task_options, seeds, threads = job
    from threadpoolctl import threadpool_limits

    import bioplausible as bpl

    with threadpool_limits(threads):
        started = time.perf_counter()
        task = bpl.tasks.Classification(dataset=dataset, predictions=False, **task_options)
        name = "ebd" if rule.startswith("ebd-") else rule
        circuit = bpl.circuits.make_circuit(name, hidden_sizes=ARCHITECTURES[dataset], **options)
        try:
            result = bpl.run(circuit, task, seeds=seeds, eval_every=task.default_steps, progress=False)
            accuracy = 100 * result.dataset["metric_test_accuracy"].values[:, -1]
        except bpl.DivergenceError:
            accuracy = np.full(len(seeds), np.nan)
        return dataset, rule, accuracy, time.perf_counter() - started


def available(args: argparse.Namespace) -> dict[str, dict]:
    """Datasets to run and their task options."""
    from bioplausible.tasks import datasets

    found: dict[str, dict] = {"digits": {}}
    if not args.full:
        return found
    epochs = {"epochs": args.epochs} | ({"n_train": args.n_train} if args.n_train else {})
    fashion = args.fashion_dir or datasets.FASHION_MNIST_DIR
    if (Path(fashion) / "train-images-idx3-ubyte.gz").exists() or (Path(fashion) / "train-images-idx3-ubyte").exists():
        found["fashion-mnist"] = {"data_dir": fashion, **epochs}
    mnist = args.mnist_dir or str(datasets.data_home() / "mnist")
    if any((Path(mnist) / f"train-images-idx3-ubyte{s}").exists() for s in ("", ".gz")):
        found["mnist"] = {"data_dir": mnist, **epochs}
    cifar = args.cifar_dir or str(datasets.data_home() / "cifar-10-batches-py")
    if (Path(cifar) / "test_batch").exists():
        found["cifar10"] = {"data_dir": cifar, **epochs}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also the large datasets that are present")
    parser.add_argument("--epochs", type=int, default=20, help="epochs on the large datasets (paper: 120)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-train", type=int, help="use only the first N training samples of the large datasets")
    parser.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)))
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per worker")
    parser.add_argument("--fashion-dir")
    parser.add_argument("--mnist-dir")
    parser.add_argument("--cifar-dir")
    parser.add_argument("--datasets", nargs="*", help="restrict to these datasets")
    parser.add_argument("--settings", help="JSON file {rule: {parameter: value}} replacing the large-MLP settings")
    args = parser.parse_args()
    if args.settings:
        import json

        with open(args.settings) as handle:
            LARGE.clear()
            LARGE.update(json.load(handle))

    datasets = available(args)
    if args.datasets:
        datasets = {k: v for k, v in datasets.items() if k in args.datasets}
    seeds = list(range(args.seeds))
    jobs = []
    for dataset, task_options in datasets.items():
        table = DIGITS if dataset == "digits" else LARGE
        for rule, options in table.items():
            jobs.append((dataset, rule, options, task_options, seeds, args.threads))
    print(f"{len(jobs)} runs, seeds {seeds}, {args.workers} workers; datasets: {', '.join(datasets)}")
    results: dict[tuple[str, str], np.ndarray] = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for dataset, rule, accuracy, seconds in pool.map(_job, jobs):
            results[(dataset, rule)] = accuracy
            print(f"  done {dataset:14s} {rule:28s} {np.nanmean(accuracy):6.2f} ({seconds:.0f} s)", flush=True)

    print("\nTest accuracy (%), final epoch, mean ± sd over seeds; published: EBD paper Table 1 (MLP)")
    print(f"{'dataset':14s} {'rule':28s} {'ours':>15s} {'published':>15s}")
    for (dataset, rule), accuracy in results.items():
        published = PUBLISHED.get(dataset, {}).get(rule)
        pub = f"{published[0]:.1f} ± {published[1]:.2f}" if published else "—"
        finite = np.any(np.isfinite(accuracy))
        ours = f"{np.nanmean(accuracy):.2f} ± {np.nanstd(accuracy):.2f}" if finite else "diverged"
        print(f"{dataset:14s} {rule:28s} {ours:>15s} {pub:>15s}")
    if args.n_train:
        print(f"(large datasets: first {args.n_train} training samples only, {args.epochs} epochs)")
    print("\nOrdering BP ≥ EBD ≥ DFA (published on MNIST and CIFAR-10 MLPs, 120 epochs, full training sets):")
    for dataset in datasets:
        means = {r: np.nanmean(results[(dataset, r)]) for r in ("backprop", "ebd", "direct-feedback-alignment")}
        holds = means["backprop"] >= means["ebd"] >= means["direct-feedback-alignment"]
        papers_setting = dataset in ("mnist", "cifar10") and args.epochs >= 120 and not args.n_train
        verdict = ("reproduced" if holds else "NOT reproduced") if papers_setting else \
            ("holds" if holds else "does not hold") + " (not the paper's setting: no published ordering to reproduce)"
        print(f"  {dataset:14s} BP {means['backprop']:.2f}  EBD {means['ebd']:.2f}  DFA "
              f"{means['direct-feedback-alignment']:.2f}  -> {verdict}")
    print("\nSettings (ours): digits", DIGITS, "\nlarge MLPs", LARGE, f"\nepochs on large datasets: {args.epochs}")


if __name__ == "__main__":
    main()
