"""Speed of the rate and spiking substrates, as ratios measured in one process.

1. Rate substrate: samples/s of each whitening circuit (n = 5, online, batch 1).
2. Ensemble: 16 seeds as one batched run against 16 single-seed runs (same total work).
3. Spiking substrate against a hand-written Brian2 script of the same network (direct
   recurrent whitening with presentation-level learning, same presentations, numpy target).

    python benchmarks/speed.py [--steps 4000] [--presentations 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import bioplausible as bpl
from bioplausible.circuits import DirectWhitening, GainWhitening, InterneuronWhitening, MultiTimescaleWhitening
from bioplausible.tasks import StatisticalAdaptation


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def rate_throughput(steps: int) -> None:
    task = StatisticalAdaptation(n_inputs=5, n_contexts=2, samples_per_context=steps // 2)
    print("1. rate substrate, n = 5, batch 1 (samples/s):")
    for cls in (DirectWhitening, InterneuronWhitening, GainWhitening, MultiTimescaleWhitening):
        seconds = timed(lambda cls=cls: bpl.run(cls(), task, seed=0, steps=steps, eval_every=steps // 10,
                                                progress=False))
        print(f"   {cls.name:28s} {steps / seconds:10.0f}")


def ensemble_speedup(steps: int, members: int = 16) -> None:
    task = StatisticalAdaptation(n_inputs=5, n_contexts=2, samples_per_context=steps // 2)
    batched = timed(lambda: bpl.run(InterneuronWhitening(), task, seeds=list(range(members)), steps=steps,
                                    eval_every=steps // 10, progress=False))
    looped = timed(lambda: [bpl.run(InterneuronWhitening(), task, seed=s, steps=steps, eval_every=steps // 10,
                                    progress=False) for s in range(members)])
    print(f"\n2. ensemble of {members} seeds: {batched:.2f} s batched vs {looped:.2f} s looped "
          f"-> speed-up ×{looped / batched:.1f}")


def hand_written_brian2(inputs: np.ndarray, recurrent: np.ndarray, learning_rate: float, rate_unit: float,
                        presentation: float, dt: float, offset: float) -> np.ndarray:
    """The same IF network written directly in Brian2 (the baseline)."""
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    n = recurrent.shape[0]
    rng = np.random.default_rng(0)
    period = presentation * b2.second
    stimulus = b2.TimedArray(inputs, dt=period)
    group = b2.NeuronGroup(n, "dv/dt = r0 * (bias + stimulus(t, i)) : 1\nbias : 1\ntheta : 1\ncount : 1",
                           threshold="v > theta", reset="v -= theta; count += 1", dt=dt * b2.second,
                           namespace={"r0": rate_unit * b2.Hz, "stimulus": stimulus}, method="euler")
    lateral = b2.Synapses(group, group, "w : 1", on_pre="v_post += w", dt=dt * b2.second)
    lateral.connect(condition="i != j")
    state = {"M": recurrent.copy(), "k": 0}

    def write():
        m = state["M"]
        lateral.w[:] = -m[lateral.j[:], lateral.i[:]]
        group.theta[:] = np.diag(m)
        group.bias[:] = np.diag(m) * offset + (m - np.diag(np.diag(m))).sum(axis=1) * offset

    @b2.network_operation(dt=period, when="start")
    def boundary():
        if state["k"] > 0:
            y = np.asarray(group.count[:]) / (rate_unit * presentation) - offset
            state["M"] = state["M"] + learning_rate * (np.outer(y, y) - np.eye(n))
            write()
        state["k"] += 1
        group.v[:] = rng.uniform(0, 1, n) * np.asarray(group.theta[:])
        group.count[:] = 0

    write()
    network = b2.Network(group, lateral, boundary)
    network.run(len(inputs) * period)
    return state["M"]


def spiking_ratio(presentations: int) -> None:
    options = {"rate_unit": 50.0, "presentation": 0.1, "dt": 5e-4}
    task = StatisticalAdaptation(n_inputs=5, n_contexts=1, samples_per_context=presentations)
    ours = timed(lambda: bpl.run(DirectWhitening(learning_rate=0.01), task, substrate="spiking", seed=0,
                                 steps=presentations, eval_every=presentations, progress=False,
                                 substrate_options=options))
    inputs = task.reset(seed=0).next_batch(presentations).inputs
    baseline = timed(lambda: hand_written_brian2(inputs, np.eye(5), 0.01, offset=4.0, **options))
    print(f"\n3. spiking, {presentations} presentations of {options['presentation']} s: bioplausible {ours:.2f} s, "
          f"hand-written Brian2 {baseline:.2f} s -> ratio ×{baseline / ours:.2f} (>1: ours faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--presentations", type=int, default=200)
    args = parser.parse_args()
    rate_throughput(args.steps)
    ensemble_speedup(args.steps // 4)
    spiking_ratio(args.presentations)


if __name__ == "__main__":
    main()
