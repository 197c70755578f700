"""Published numbers and our full-setting numbers for each circuit's headline metric, beside
which :func:`~bioplausible.experiments.compare.headline_table` prints the quick comparison.

Every entry names where its numbers come from: the paper's table for ``published``, and the
benchmark script (with its arguments, as run and documented in that script's docstring) for
``ours_full``. Numbers are in the metric's units (accuracy as a fraction, SINR in dB).
Where the paper's setting differs from the comparison's default task, ``setting`` says which
one the numbers are for. ``None``: no such number is available to us.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    metric: str
    published: str | None
    ours_full: str | None
    setting: str
    source: str


_SEP_A = "nonnegative antisparse, n=5, m=10, ρ=0.6 (equicorrelated), 30 dB"
_SEP_SRC = ("Bozkurt et al. 2023 Table A (CIM-BSS V2 notebook, 100 trials); "
            "benchmarks/separation_sinr.py --full --rho 0.6")
_EBD_SRC = "Erdogan et al. 2025 Table 1 (MLP, 5 runs); benchmarks/supervised_accuracy.py"

REFERENCES: dict[str, Reference] = {
    # the quick comparison's own setting (SourceSeparation.quick_options: ρ = 0.6); at ρ = 0
    # the same sources give 27.24 / 27.66 ± 1.50 (CorInfoMax) and 29.54 / 29.61 (NSM)
    "corinfomax": Reference("sinr_db", "26.49", "27.01 ± 0.99 (10 trials, N=500k)", _SEP_A, _SEP_SRC),
    "nsm": Reference("sinr_db", "5.70", "6.26 (4 trials, N=100k)", _SEP_A,
                     "Bozkurt et al. 2023 Table A (CIM-BSS V2 notebook); benchmarks/separation_sinr.py"),
    "detmax-wsm": Reference("sinr_db", None, "20.27 ± 2.87 (4 trials, N=500k)",
                            "Det-Max's own setup: antisparse, Toeplitz ρ=0.6, n=4, m=8 (published as a figure only)",
                            "Bozkurt, Pehlevan & Erdogan 2022 (Det-Max, NeurIPS); "
                            "benchmarks/separation_sinr.py --table detmax"),
    "ebd": Reference("test_accuracy", "0.982 ± 0.0008", None, "MNIST, 784-1024-512-10, 120 epochs", _EBD_SRC),
    "direct-feedback-alignment": Reference("test_accuracy", "0.981 ± 0.0021", None,
                                           "MNIST, 784-1024-512-10, 120 epochs", _EBD_SRC),
    "backprop": Reference("test_accuracy", "0.987 ± 0.0005", None, "MNIST, 784-1024-512-10, 120 epochs", _EBD_SRC),
}
