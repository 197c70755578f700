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


_SEP_A = "separation, antisparse, n=5, m=10, ρ=0, 30 dB"
_SEP_SRC = "Bozkurt et al. 2023 Table A (V2); benchmarks/separation_sinr.py --full"
_EBD_SRC = "Erdogan et al. 2025 Table 1 (MLP, 5 runs); benchmarks/supervised_accuracy.py"

REFERENCES: dict[str, Reference] = {
    "corinfomax": Reference("sinr_db", "27.24", "27.66 ± 1.50 (10 trials, N=500k)", _SEP_A, _SEP_SRC),
    "nsm": Reference("sinr_db", "29.54", "29.61 (4 trials, N=100k)", _SEP_A, _SEP_SRC),
    "detmax-wsm": Reference("sinr_db", "26.55", "27.15 ± 3.01 (10 trials, N=500k)",
                            "Table B: WSM, 30 dB SNR", "Bozkurt et al. 2023 Table B; "
                            "benchmarks/separation_sinr.py --table B"),
    "ebd": Reference("test_accuracy", "0.982 ± 0.0008", None, "MNIST, 784-1024-512-10, 120 epochs", _EBD_SRC),
    "direct-feedback-alignment": Reference("test_accuracy", "0.981 ± 0.0021", None,
                                           "MNIST, 784-1024-512-10, 120 epochs", _EBD_SRC),
    "backprop": Reference("test_accuracy", "0.987 ± 0.0005", None, "MNIST, 784-1024-512-10, 120 epochs", _EBD_SRC),
}
