"""Capacity of the sequence memories against N, beside the derived theory (spec sequence.md §5–6).

For SeqNet, polynomial DenseNet (d = 2, 3) and exponential DenseNet: P_T (transition) and
P_S (sequence) capacities from :meth:`SequenceRecall.capacity` (iid Rademacher patterns,
all-neuron overlap, synchronous, threshold 0.5, 20 draws, bracket doubling + bisection),
the theory values, their ratio, P_T/P_S, and fitted log-log slopes (for exp: the slope of
ln P_T against N, theory ln β = ln(e²/cosh 2) ≈ 0.675). Then MixedNet dwell times (N = 100,
P = 40, τ = 5) and correlated patterns (biased ε = 0.6; drifting q = 0.02) where the
pseudoinverse rule recalls what SeqNet cannot. Prints tables and saves a figure.

    python benchmarks/sequence_capacity.py                 # quick (1–3 minutes on 2 cores)
    python benchmarks/sequence_capacity.py --full          # spec grid; exp N = 14 (P_T ≈ 8000) takes > 30 min
    python benchmarks/sequence_capacity.py --out capacity.png
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bioplausible.circuits import DenseNet, GeneralizedPseudoinverse, MixedNet, SeqNet
from bioplausible.tasks import SequenceRecall
from bioplausible.theory.sequence import theoretical_capacity

QUICK = {"SeqNet": [25, 50, 100, 200], "poly d=2": [25, 50, 100], "poly d=3": [20, 30], "exp": [8, 10]}
FULL = {"SeqNet": [25, 50, 100, 200, 400], "poly d=2": [25, 50, 100, 200], "poly d=3": [20, 30, 40, 50],
        "exp": [8, 10, 12, 14]}
MODELS = {
    "SeqNet": (SeqNet, {}, "linear", 1),
    "poly d=2": (DenseNet, {"separation": "poly", "degree": 2}, "poly", 2),
    "poly d=3": (DenseNet, {"separation": "poly", "degree": 3}, "poly", 3),
    "exp": (DenseNet, {"separation": "exp"}, "exp", 2),
}


HEADER = (f"{'model':9s} {'N':>4s} {'P_T':>6s} {'theory':>8s} {'ratio':>6s} {'P_S':>6s} {'theory':>8s} "
          f"{'ratio':>6s} {'P_T/P_S':>7s} {'s':>5s}")


def capacity_table(grid: dict[str, list[int]], draws: int, verbose: bool = True) -> list[dict]:
    """Measured and theoretical capacities; each row is printed as soon as it is computed."""
    rows = []
    if verbose:
        print(HEADER, flush=True)
    for name, sizes in grid.items():
        cls, params, separation, degree = MODELS[name]
        for n in sizes:
            task = SequenceRecall(n_neurons=n)
            began = time.perf_counter()
            p_t, _ = task.capacity(cls(**params), "transition", draws=draws)
            p_s, _ = task.capacity(cls(**params), "sequence", draws=draws)
            r = {
                "model": name, "N": n, "P_T": p_t, "P_S": p_s,
                "theory_T": float(theoretical_capacity(n, separation, degree, "transition")),
                "theory_S": float(theoretical_capacity(n, separation, degree, "sequence")),
                "seconds": time.perf_counter() - began,
            }
            rows.append(r)
            if verbose:
                print(f"{r['model']:9s} {r['N']:4d} {r['P_T']:6d} {r['theory_T']:8.1f} {r['P_T'] / r['theory_T']:6.2f} "
                      f"{r['P_S']:6d} {r['theory_S']:8.1f} {r['P_S'] / r['theory_S']:6.2f} "
                      f"{r['P_T'] / r['P_S']:7.2f} {r['seconds']:5.1f}", flush=True)
    return rows


def slopes(rows: list[dict]) -> dict[str, tuple[float, float, float]]:
    """Fitted slope of log P_T and log P_S (vs log N; vs N for exp) and the theory's slope."""
    result = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        part = [r for r in rows if r["model"] == name]
        n = np.array([r["N"] for r in part], dtype=float)
        x = n if name == "exp" else np.log(n)
        fit = [np.polyfit(x, np.log([r[key] for r in part]), 1)[0] for key in ("P_T", "P_S", "theory_T")]
        result[name] = tuple(fit)
    return result


def mixednet_dwell(seeds: int = 10) -> dict[tuple[int, float], int]:
    perfect = {}
    for degree, lam in ((1, 2.0), (2, 2.0), (10, 1.5), (10, 2.0)):
        count = 0
        for seed in range(seeds):
            task = SequenceRecall(n_neurons=100, sequence_length=40).reset(seed)
            circuit = MixedNet(delay=5, degree_hold=degree, degree_advance=degree, advance_strength=lam)
            count += task.score(circuit.store(task.sequence))["recall_success"] == 1.0
        perfect[degree, lam] = count
    return perfect


def correlated(draws: int = 3) -> dict[str, dict[str, float]]:
    models = {"SeqNet": SeqNet(), "poly d=2": DenseNet(degree=2), "poly d=3": DenseNet(degree=3),
              "poly d=50": DenseNet(degree=50), "exp": DenseNet(separation="exp"),
              "GPI d=1": GeneralizedPseudoinverse(), "GPI d=2": GeneralizedPseudoinverse(separation="poly", degree=2)}
    settings = {"biased ε=0.6 N=200 P=100": (SequenceRecall(n_neurons=200, patterns="biased", bias=0.6), 100),
                "drift q=0.02 N=784 P=200": (SequenceRecall(n_neurons=784, patterns="drift", flip_probability=0.02),
                                             200)}
    return {label: {name: task.success_rates(c, p, draws=draws)[0] for name, c in models.items()}
            for label, (task, p) in settings.items()}


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key, theory in ((axes[0], "P_T", "theory_T"), (axes[1], "P_S", "theory_S")):
        for index, name in enumerate(dict.fromkeys(r["model"] for r in rows)):
            part = [r for r in rows if r["model"] == name]
            n = [r["N"] for r in part]
            color = f"C{index}"
            ax.plot(n, [r[key] for r in part], "o-", color=color, label=f"{name} measured")
            ax.plot(n, [r[theory] for r in part], "--", color=color, label=f"{name} theory")
        ax.set(xscale="log", yscale="log", xlabel="N (neurons)", ylabel=f"{key} (patterns)",
               title=f"{'transition' if key == 'P_T' else 'sequence'} capacity")
    axes[1].legend(fontsize=7)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the spec's N grid (over 30 minutes on 2 cores)")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--out", default="sequence_capacity.png", help="figure path")
    args = parser.parse_args(argv)
    rows = capacity_table(FULL if args.full else QUICK, args.draws)
    print("\nfitted slopes (log P vs log N; exp: ln P vs N)   P_T     P_S    theory")
    for name, (t, s, theory) in slopes(rows).items():
        print(f"  {name:9s} {t:7.3f} {s:7.3f} {theory:7.3f}")
    print("\nMixedNet N=100, P=40, τ=5: perfect rollouts (order and dwell τ+1) out of 10 seeds")
    for (degree, lam), count in mixednet_dwell().items():
        print(f"  d={degree:2d} λ={lam}: {count}/10")
    print("\ncorrelated patterns: transition success")
    for label, rates in correlated().items():
        print(f"  {label}: " + ", ".join(f"{name} {rate:.2f}" for name, rate in rates.items()))
    plot(rows, args.out)
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
