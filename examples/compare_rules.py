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
from bioplausible.experiments.compare import format_headline, headline_table, summary_table  # noqa: E402
from bioplausible.plotting import plot_final_metric, plot_learning_curves  # noqa: E402

QUICK = os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK") == "1"


def main() -> None:
    samples = 600 if QUICK else 3000
    task = bpl.tasks.StatisticalAdaptation(n_inputs=4, n_contexts=3, samples_per_context=samples)
    circuits = [
        bpl.circuits.DirectWhitening(learning_rate=0.01),
        bpl.circuits.InterneuronWhitening(learning_rate=0.01),
        bpl.circuits.GainWhitening(learning_rate=0.01),
        bpl.circuits.MultiTimescaleWhitening(),
    ]
    seeds = range(2 if QUICK else 5)
    frame = bpl.compare(circuits, task, seeds=seeds, eval_every=max(1, task.default_steps // 60))
    print(format_headline(headline_table(frame)))
    recovery = summary_table(frame, ["recovery_time", "fraction_recovered"])
    print("\nadaptation after a switch (recovery_time: updates until the whitening error < "
          f"{task.recovery_threshold}, over the contexts that recovered):")
    for row in recovery.pivot_table(index="circuit", columns="metric", values="mean").itertuples():
        speed = "never recovered" if row.recovery_time != row.recovery_time else f"{row.recovery_time:.0f} updates"
        print(f"  {row.Index:26s} {speed:>16s}   recovered in {100 * row.fraction_recovered:.0f} % of contexts")

    figure, (curves, strip) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    plot_learning_curves(frame, "whitening_error", curves, logy=True)
    plot_final_metric(frame, "recovery_time", strip)
    figure.savefig("compare_rules.png", dpi=110, bbox_inches="tight")
    print("saved compare_rules.png")


if __name__ == "__main__":
    main()
