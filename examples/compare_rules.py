"""Compare learning rules on one task: which whitening circuit adapts fastest after a context switch?

Runs every adaptation circuit on the same context-switch stream (same seeds, hence the same
data for every circuit), prints the final metrics (mean ± sd over seeds) and saves the
learning curves with mean ± sd bands to ``compare_rules.png``.

    python examples/compare_rules.py                 # full size (a few minutes)
    BIOPLAUSIBLE_EXAMPLE_QUICK=1 python examples/compare_rules.py   # seconds (used by the tests)
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import bioplausible as bpl  # noqa: E402
from bioplausible.experiments.compare import summary_table  # noqa: E402
from bioplausible.plotting import plot_final_metric, plot_learning_curves  # noqa: E402

QUICK = os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK") == "1"


def main() -> None:
    samples = 300 if QUICK else 3000
    task = bpl.tasks.StatisticalAdaptation(n_inputs=4, n_contexts=3, samples_per_context=samples)
    circuits = [
        bpl.circuits.DirectWhitening(learning_rate=0.01),
        bpl.circuits.InterneuronWhitening(learning_rate=0.01),
        bpl.circuits.GainWhitening(learning_rate=0.01),
        bpl.circuits.MultiTimescaleWhitening(),
    ]
    seeds = range(2 if QUICK else 5)
    frame = bpl.compare(circuits, task, seeds=seeds)
    print(summary_table(frame).to_string(index=False, float_format=lambda v: f"{v:.4g}"))

    figure, (curves, strip) = plt.subplots(1, 2, figsize=(11, 4))
    plot_learning_curves(frame, "whitening_error", curves, logy=True)
    plot_final_metric(frame, "final_whitening_error", strip)
    figure.tight_layout()
    figure.savefig("compare_rules.png", dpi=110)
    print("saved compare_rules.png")


if __name__ == "__main__":
    main()
