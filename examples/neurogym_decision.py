"""A NeuroGym cognitive task learned by recurrent circuits: e-prop (local, online) beside BPTT.

NeuroGym's perceptual decision-making task (a noisy two-way stimulus, then a response; Britten
et al. 1992 as NeuroGym sets it up) runs as trials through
:class:`bioplausible.tasks.neurogym.NeuroGymTask`: observations in, the ground-truth action
one-hot out, every step of the trial scored (fixation included, as in NeuroGym's supervised
datasets). A rectified rate RNN learns it with e-prop (:class:`bioplausible.circuits.RecurrentEprop`,
a three-factor rule: eligibility trace × broadcast learning signal) and with BPTT
(:class:`bioplausible.circuits.RecurrentBPTT`), from the same seeds. Printed: decision accuracy
on held-out trials (chance 0.5) before and after. Needs NeuroGym
(``pip install 'bioplausible[neurogym]'``); without it the script says so and stops.

    python examples/neurogym_decision.py            # 300 updates, 4 seeds, + DelayMatchSample
    python examples/neurogym_decision.py --small    # tests; also BIOPLAUSIBLE_EXAMPLE_QUICK=1
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import bioplausible as bpl
from bioplausible.tasks.neurogym import NeuroGymTask

CIRCUITS = {"e-prop": bpl.circuits.RecurrentEprop, "bptt": bpl.circuits.RecurrentBPTT}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", default=bool(os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK")))
    args = parser.parse_args(argv)
    try:
        import neurogym  # noqa: F401
    except Exception as error:  # noqa: BLE001 - any import failure means NeuroGym cannot run here
        print(f"NeuroGym is not available ({type(error).__name__}: {error}); "
              "pip install 'bioplausible[neurogym]' to run this example")
        return
    steps, seeds = (150, 2) if args.small else (300, 4)
    envs = ["PerceptualDecisionMaking-v0"] + ([] if args.small else ["DelayMatchSample-v0"])
    for env in envs:
        task = NeuroGymTask(env, scored_periods=None, evaluation_trials=64)
        print(f"{env}: {task.n_inputs} inputs, {task.n_targets} actions, {task.trial_steps} steps of {task.dt:g} s")
        for label, cls in CIRCUITS.items():
            circuit = cls(n_hidden=32, nonlinearity="rectified", learning_rate=0.2, readout_rate=0.2,
                          initial_scale=0.5, **task.circuit_options())
            result = bpl.run(circuit, task, seeds=range(seeds), steps=steps, eval_every=steps, batch_size=16,
                             progress=False)
            accuracy = result.dataset["metric_decision_accuracy"].values
            print(f"  {label:7s} decision accuracy {np.mean(accuracy[:, 0]):.2f} → {np.mean(accuracy[:, -1]):.2f} "
                  f"(seeds {', '.join(f'{a:.2f}' for a in accuracy[:, -1])})")


if __name__ == "__main__":
    main()
