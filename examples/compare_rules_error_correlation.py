"""Activation–error decorrelation under different learning rules (EBD paper, App. J).

Trains backprop, EBD, DFA, FA and error-modulated Hebb on sklearn digits (same data, same
seeds, the rules' default settings) and records, every epoch, each hidden layer's mean
``|corr(h_i, ε_j)|`` with the output error on the test split, and the cosine of each rule's
update with the backprop gradient. Prints the curves' start/end values and saves a figure.

A rule that decorrelates its hidden layers from the error (EBD by design, BP as a side
effect of descending the loss) drives the curve down; Hebb has no credit assignment.

    python examples/compare_rules_error_correlation.py            # 60 epochs, 3 seeds
    python examples/compare_rules_error_correlation.py --small    # a few epochs (tests; also
                                                                   # BIOPLAUSIBLE_EXAMPLE_QUICK=1)
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import bioplausible as bpl

RULES = ("backprop", "ebd", "direct-feedback-alignment", "feedback-alignment", "hebbian")


def curves(epochs: int, seeds: list[int], n_train: int | None) -> dict[str, dict[str, np.ndarray]]:
    """Per rule: steps and (seed, step) traces of the correlation and alignment metrics."""
    task = bpl.tasks.Classification(dataset="digits", epochs=epochs, n_train=n_train)
    out = {}
    for rule in RULES:
        result = bpl.run(bpl.circuits.make_circuit(rule), task, seeds=seeds, progress=False)
        data = result.dataset
        out[rule] = {"step": data["step"].values}
        for name in data.data_vars:
            if name.startswith(("metric_error_correlation", "metric_update_alignment", "metric_test_accuracy")):
                out[rule][name.removeprefix("metric_")] = data[name].values
    return out


def main(argv: list[str] | None = None) -> dict[str, dict[str, np.ndarray]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", default=bool(os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK")),
                        help="a few epochs on 300 training samples, one seed")
    parser.add_argument("--output", default="error_correlation.png", help="figure path ('' for none)")
    args = parser.parse_args(argv)
    epochs, seeds, n_train = (3, [0], 300) if args.small else (60, [0, 1, 2], None)
    results = curves(epochs, seeds, n_train)

    print(f"mean |corr(h, ε)| on the test split, first → last evaluation (mean over {len(seeds)} seeds)")
    print(f"{'rule':28s} {'hidden_1':>16s} {'hidden_2':>16s} {'test acc':>9s} {'cos(Δ, −∇) L1':>14s}")
    for rule, trace in results.items():
        h1, h2 = trace["error_correlation_hidden_1"].mean(0), trace["error_correlation_hidden_2"].mean(0)
        accuracy = trace["test_accuracy"].mean(0)[-1]
        alignment = trace["update_alignment_1"].mean(0)[-1]
        print(f"{rule:28s} {h1[0]:7.3f} → {h1[-1]:6.3f} {h2[0]:7.3f} → {h2[-1]:6.3f} {accuracy:9.3f} {alignment:14.2f}")

    if args.output:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
        for index, ax in enumerate(axes, 1):
            for rule, trace in results.items():
                values = trace[f"error_correlation_hidden_{index}"]
                ax.plot(trace["step"], values.mean(0), label=rule)
            ax.set_title(f"hidden layer {index}")
            ax.set_xlabel("update")
        axes[0].set_ylabel("mean |corr(h, ε)|")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.output, dpi=120)
        print(f"saved {args.output}")
    return results


if __name__ == "__main__":
    main()
