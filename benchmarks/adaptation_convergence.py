"""Headline claim of Lipshutz, Pehlevan & Chklovskii (ICLR 2023): from a large initial spectrum
c, the steps to whiten grow *linearly* in c with direct recurrent weights and *logarithmically*
with interneurons.

Setting (spec adaptation.md §4, our own reproduction): offline expected updates, n = 10,
``C = Q diag(logspace(−1, 1, 10)) Qᵀ``, η = 0.01, ``M₀ = cI`` / ``W₀W₀ᵀ = cI``, stop when
‖C_yy − I‖₂ < 0.1. All values of c run as one ensemble (one batched computation).

    python benchmarks/adaptation_convergence.py [--out convergence.png]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bioplausible.circuits import DirectWhitening, InterneuronWhitening

SCALES = np.array([0.01, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000])
REFERENCE_DIRECT = [100_241, 1_149, 279, 284, 341, 1_138, 3_208, 10_231, 30_238, 100_240]
REFERENCE_INTERNEURON = [456, 120, 57, 109, 166, 226, 281, 341, 395, 455]


def convergence_steps(n: int = 10, learning_rate: float = 0.01, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.standard_normal((n, n)))[0]
    covariance = (rotation * np.logspace(-1, 1, n)) @ rotation.T
    members = list(range(len(SCALES)))
    direct = DirectWhitening(learning_rate=learning_rate).initialize(n, 0, members)
    direct.state["recurrent"] = SCALES[:, None, None] * np.eye(n)
    interneuron = InterneuronWhitening(learning_rate=learning_rate, leak=0.0).initialize(n, 0, members)
    interneuron.state["synapses"] = np.sqrt(SCALES)[:, None, None] * interneuron.state["synapses"]
    return direct.steps_to_whiten(covariance), interneuron.steps_to_whiten(covariance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="adaptation_convergence.png")
    args = parser.parse_args()
    started = time.perf_counter()
    direct, interneuron = convergence_steps()
    print(f"{'c':>7} {'direct':>9} {'(spec)':>9} {'interneuron':>12} {'(spec)':>7}")
    for c, d, dr, i, ir in zip(SCALES, direct, REFERENCE_DIRECT, interneuron, REFERENCE_INTERNEURON):
        print(f"{c:7g} {d:9d} {dr:9d} {i:12d} {ir:7d}")
    large = SCALES >= 10
    direct_slope = np.polyfit(np.log10(SCALES[large]), np.log10(direct[large]), 1)[0]
    per_decade = np.polyfit(np.log10(SCALES[large]), interneuron[large], 1)[0]
    linear_rate = np.polyfit(SCALES[large], direct[large], 1)[0]
    print(f"\ndirect: log-log slope {direct_slope:.3f} (linear growth: 1), {linear_rate:.1f} steps per unit c "
          f"(theory 1/η = 100); ×{10 ** direct_slope:.2f} per decade")
    print(f"interneurons: {per_decade:.1f} steps per decade of c (theory ln(100)/(4η) = {np.log(100) / 0.04:.1f}; "
          f"spec target 115 ± 15)")
    print(f"wall time {time.perf_counter() - started:.1f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bioplausible.plotting import _axes

    ax = _axes(None)
    ax.loglog(SCALES, direct, "o-", label="direct recurrent weights")
    ax.loglog(SCALES, interneuron, "s-", label="interneurons")
    ax.set_xlabel("initial spectrum scale c")
    ax.set_ylabel("steps to ‖C_yy − I‖₂ < 0.1")
    ax.legend()
    ax.figure.savefig(args.out, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
