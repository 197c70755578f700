"""TD value learning on a track: learning curves beside their theory, and the value on spikes.

A value neuron learns, by the three-factor TD rule ``Δw = η δ e`` with a broadcast
reward-prediction error δ, the value of positions on a track that place cells encode
(:class:`bioplausible.tasks.ValueTrack`, :class:`bioplausible.circuits.TDValue`). Left: the
mean error against the TD fixed point over seeds (dots) for three learning rates, beside the
loss-dynamics theory :func:`bioplausible.theory.td.td_learning_curve` (lines): the error
falls to a plateau set by the learning rate (Bordelon, Masset, Kuo & Pehlevan, NeurIPS
2023). Right: the learned value on the rate network and on spikes (Brian2: integrate-and-fire
place cells, the RPE broadcast at presentation boundaries) against the true value.

    python examples/td_value_learning.py            # 64 seeds, 300 updates
    python examples/td_value_learning.py --small    # tests; also BIOPLAUSIBLE_EXAMPLE_QUICK=1
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import bioplausible as bpl
from bioplausible.theory.td import TDProblem, plateau, td_learning_curve

RATES = (0.2, 0.5, 1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", default=bool(os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK")))
    parser.add_argument("--output", default="td_value_learning.png", help="figure path ('' for none)")
    args = parser.parse_args(argv)
    seeds, steps, every = (24, 120, 10) if args.small else (64, 300, 10)
    task = bpl.tasks.ValueTrack(n_positions=16, episode_length=16, episodes_per_update=4)
    problem = TDProblem.from_task(task)

    curves = {}
    print(f"TD(0), {seeds} seeds, {steps} updates of {task.episodes_per_update} episodes: "
          "plateau of the fixed-point error, simulation / theory")
    for rate in RATES:
        theory = td_learning_curve(problem, rate, task.episodes_per_update, steps)["fixed_point_error"]
        result = bpl.run(bpl.circuits.TDValue(learning_rate=rate), task, seeds=range(seeds), steps=steps,
                         eval_every=every, progress=False)
        simulated = result.dataset["metric_fixed_point_error"].values.mean(axis=0)
        curves[rate] = (simulated, theory)
        gap = abs(plateau(simulated) / plateau(theory[::every]) - 1)
        print(f"  η = {rate:4.2f}   {plateau(simulated):.2e} / {plateau(theory[::every]):.2e}   gap {100 * gap:.1f}%")

    spiking_steps = 8 if args.small else 30
    learned = {}
    for substrate, options in (("rate", None),
                               ("spiking", {"rate_unit": 250.0, "presentation": 0.04, "dt": 1e-3})):
        circuit = bpl.circuits.TDValue(learning_rate=0.5)
        result = bpl.run(circuit, task, substrate, seed=0, steps=spiking_steps, eval_every=spiking_steps,
                         progress=False, substrate_options=options)
        learned[substrate] = task.value_estimate(circuit.member(0))
        print(f"{substrate:8s} value_error after {spiking_steps} updates: "
              f"{result.dataset['metric_value_error'].values[0, -1]:.4f}")

    if args.output:
        import matplotlib

        if os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK"):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
        for index, (rate, (simulated, theory)) in enumerate(curves.items()):
            left.loglog(np.arange(1, steps + 1), theory[1:], color=f"C{index}", label=f"η = {rate}")
            left.loglog(np.arange(every, steps + 1, every), simulated[1:], "o", color=f"C{index}", markersize=3)
        left.set(xlabel="update", ylabel="fixed-point error", title="TD learning curves: simulation (dots) vs theory")
        left.legend(fontsize=8)
        right.plot(task.true_value, "k", label="true value")
        right.plot(learned["rate"], "C0--", label="rate")
        right.plot(learned["spiking"], "C1:", label="spiking")
        right.set(xlabel="position", ylabel="value", title="learned value")
        right.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.output, dpi=120)
        print(f"figure: {args.output}")


if __name__ == "__main__":
    main()
