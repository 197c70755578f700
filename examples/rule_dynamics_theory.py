"""Learning rules beside their theory: lazy loss curves, kernel alignment by layer.

Left: full-batch regression on a teacher–student task in the lazy (``"ntk"``) parameterization;
each rule's simulated test loss (dots) over the infinite-width theory
:func:`bioplausible.theory.lazy_loss_curve` (lines). Backprop and ρ-FA learn with the hidden
layer's kernel too; DFA and Hebb, in this limit, only with the readout's (Bordelon & Pehlevan,
ICLR 2023). Right: in the rich (``"mean-field"``, γ₀ = 1.5) regime, each rule's eNTK share by
layer at the end of training (from :func:`bioplausible.analysis.kernels.full_batch_dynamics`).

    python examples/rule_dynamics_theory.py            # N = 1024, 200 steps
    python examples/rule_dynamics_theory.py --small    # tests; also BIOPLAUSIBLE_EXAMPLE_QUICK=1
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import bioplausible as bpl
from bioplausible import theory
from bioplausible.analysis.kernels import full_batch_dynamics

RULES = {
    "backprop": lambda **kw: bpl.circuits.Backprop(**kw),
    "feedback-alignment": lambda **kw: bpl.circuits.FeedbackAlignment(rho=0.5, **kw),
    "direct-feedback-alignment": lambda **kw: bpl.circuits.DirectFeedbackAlignment(projection_gain=1.0, **kw),
    "hebbian": lambda **kw: bpl.circuits.Hebbian(**kw),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", default=bool(os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK")))
    parser.add_argument("--output", default="rule_dynamics_theory.png", help="figure path ('' for none)")
    args = parser.parse_args(argv)
    width, steps, seeds = (256, 60, 2) if args.small else (1024, 200, 4)

    task = bpl.tasks.TeacherStudent(n_inputs=10, n_outputs=1, teacher_seed=0).reset(seed=0)
    train, test = task.next_batch(20), task.next_batch(100)
    scale = train.targets.std()
    X, y, Xt, yt = train.inputs, train.targets / scale, test.inputs, test.targets / scale

    lazy, rich = {}, {}
    for rule, make in RULES.items():
        extra = {"synaptic_scaling": False} if rule == "hebbian" else {}
        circuit = make(hidden_sizes=(width,), parameterization="ntk", bias=False, learning_rate=1.0,
                       output_rate=1.0, **extra)
        circuit.initialize(X.shape[1], 1, list(range(seeds)))
        curve = theory.lazy_loss_curve(rule, X, y, Xt, yt, steps=steps, rho=0.5,
                                       initial=(circuit.forward(X)[-1], circuit.forward(Xt)[-1]))
        sim = full_batch_dynamics(circuit, X, y, steps, test_inputs=Xt, test_targets=yt)
        lazy[rule] = (sim["test_loss"].mean("seed").values, curve["test_loss"])
        rate = 0.03 if rule == "hebbian" else 1.0  # Hebb's positive feedback diverges at larger rates
        circuit = make(hidden_sizes=(width // 2, width // 2), parameterization="mean-field", gamma0=1.5, bias=False,
                       learning_rate=rate, output_rate=1.0)
        circuit.initialize(X.shape[1], 1, list(range(seeds)))
        rich[rule] = full_batch_dynamics(circuit, X, y, steps, every=steps)

    print(f"lazy limit, N = {width}: test loss at the end, simulation / theory, and the gap max|Δ|/max")
    for rule, (sim, th) in lazy.items():
        print(f"  {rule:27s} {sim[-1]:.4f} / {th[-1]:.4f}   gap {np.max(np.abs(sim - th)) / np.max(th):.4f}")
    print("rich regime (mean-field, γ₀ = 1.5): eNTK share (layer 1, layer 2, readout) and eNTK alignment at the end")
    for rule, data in rich.items():
        share = data["entk_layer_share"].isel(kernel_step=-1).mean("seed").values
        align = data["entk_alignment"].mean("seed").values
        print(f"  {rule:27s} " + " ".join(f"{v:.3f}" for v in share) + f"   A {align[0]:.3f} → {align[-1]:.3f}")

    if args.output:
        import matplotlib

        if os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK"):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
        for index, (rule, (sim, th)) in enumerate(lazy.items()):
            colour = f"C{index}"
            left.plot(th, color=colour, label=rule)
            left.plot(np.arange(0, steps + 1, max(1, steps // 20)), sim[:: max(1, steps // 20)], "o", color=colour,
                      markersize=3)
        left.set(xlabel="full-batch step", ylabel="test MSE", title=f"lazy: simulation (dots, N = {width}) vs theory")
        left.legend(fontsize=7)
        shares = np.array([data["entk_layer_share"].isel(kernel_step=-1).mean("seed").values for data in rich.values()])
        bottom = np.zeros(len(rich))
        for layer, label in enumerate(["layer 1", "layer 2", "readout"]):
            right.bar(range(len(rich)), shares[:, layer], bottom=bottom, label=label)
            bottom += shares[:, layer]
        right.set_xticks(range(len(rich)), [r.replace("-", "\n") for r in rich], fontsize=7)
        right.set(ylabel="share of eNTK trace", title="rich (γ₀ = 1.5): where each rule learns")
        right.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.output, dpi=120)
        print(f"figure: {args.output}")


if __name__ == "__main__":
    main()
