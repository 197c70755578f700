"""Rate vs spiking (Brian2 windowed replay) transition success for the sequence circuits.

For each circuit and load P (N = 100 iid patterns, one draw per seed), one synchronous step
from every stored pattern on both substrates: the fraction of transitions that succeed, and
the fraction of (pattern, neuron) states on which the two substrates agree. Visible counts
are exact (r0 T spikes per active unit); memory-unit counts are dithered roundings of
r0 T f̃(m), so disagreements appear when crosstalk makes fields small (near capacity, or
with a flat separation function such as f = x).

    python benchmarks/sequence_spiking_agreement.py           # quick
    python benchmarks/sequence_spiking_agreement.py --full    # more seeds, longer windows
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bioplausible.circuits import DenseNet, SeqNet, TwoLayerSequence
from bioplausible.substrates.spiking import spiking_replay


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args(argv)
    seeds = range(5 if args.full else 2)
    windows = (0.05, 0.2) if args.full else (0.05,)
    settings = [("seqnet", SeqNet, {}, (10, 20)),
                ("two-layer f=x", TwoLayerSequence, {"separation": "linear"}, (10, 20)),
                ("densenet d=2", DenseNet, {"separation": "poly", "degree": 2}, (20, 40)),
                ("densenet exp", DenseNet, {"separation": "exp"}, (40,))]
    print(f"{'circuit':15s} {'P':>3s} {'T (s)':>6s} {'rate TS':>8s} {'spike TS':>9s} {'state agreement':>16s} "
          f"{'s':>5s}")
    for name, cls, params, loads in settings:
        for length in loads:
            for window in windows:
                rate_ts, spike_ts, agree, began = [], [], [], time.perf_counter()
                for seed in seeds:
                    rng = np.random.default_rng(seed)
                    patterns = np.where(rng.random((length, 100)) < 0.5, 1.0, -1.0)
                    circuit = cls(**params).store(patterns)
                    successors = np.roll(patterns, -1, axis=0)
                    rate = circuit.step(patterns)[0]
                    spikes = spiking_replay(circuit, patterns, 1, rate_unit=200.0, window=window, dt=5e-4,
                                            seed=seed)[0, 1]
                    rate_ts.append(np.all(rate == successors, axis=1).mean())
                    spike_ts.append(np.all(spikes == successors, axis=1).mean())
                    agree.append(np.mean(rate == spikes))
                print(f"{name:15s} {length:3d} {window:6.2f} {np.mean(rate_ts):8.3f} {np.mean(spike_ts):9.3f} "
                      f"{np.mean(agree):16.4f} {time.perf_counter() - began:5.1f}")


if __name__ == "__main__":
    main()
