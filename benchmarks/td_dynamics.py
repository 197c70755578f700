"""TD loss dynamics: theory against simulation over a grid of learning rates and discounts.

Bordelon, Masset, Kuo & Pehlevan (NeurIPS 2023): batch TD(0) with linear features shows
plateaus in the value error set by the learning rate and the discount. Here the
``td-value`` circuit learns the ``value`` task (track with place cells) through
:func:`bioplausible.run`, an ensemble of seeds per setting, and its mean
``fixed_point_error`` curve is compared with :func:`bioplausible.theory.td.td_learning_curve`
(the exact mean/second-moment recursion from the chain's statistics). Printed per setting:
the plateau (mean of the last quarter of the curve) of both and their relative gap, and the
curve gap (mean over evaluations of ``|log(simulated / theory)|``); target: both within 10 %.

    python benchmarks/td_dynamics.py            # quick: 64 seeds, 200 updates, 4 settings
    python benchmarks/td_dynamics.py --full     # 256 seeds, 400 updates, a wider grid

:func:`td_dynamics_gaps` returns the rows, for ``benchmarks/learning_over_time.py``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import bioplausible as bpl
from bioplausible.theory.td import TDProblem, plateau, td_learning_curve

QUICK_GRID = ((0.9, 0.2), (0.9, 0.5), (0.9, 1.0), (0.5, 0.5))
FULL_GRID = tuple((g, lr) for g in (0.5, 0.8, 0.9) for lr in (0.1, 0.2, 0.5, 1.0, 1.5))
TASK = {"n_positions": 20, "episode_length": 20, "episodes_per_update": 5}


def td_dynamics_gaps(grid: Sequence[tuple[float, float]] = QUICK_GRID, seeds: int = 64, steps: int = 200,
                     eval_every: int = 10, task_options: dict[str, Any] | None = None) -> list[dict[str, float]]:
    """One row per ``(discount, learning_rate)``: simulated and predicted plateaus, their
    relative gap, and the curve gap (module docstring)."""
    rows = []
    for discount, learning_rate in grid:
        task = bpl.tasks.ValueTrack(**{**TASK, **(task_options or {}), "discount": discount})
        theory = td_learning_curve(TDProblem.from_task(task), learning_rate, task.episodes_per_update, steps)
        started = time.perf_counter()
        result = bpl.run(bpl.circuits.TDValue(learning_rate=learning_rate, discount=discount), task,
                         seeds=range(seeds), steps=steps, eval_every=eval_every, progress=False)
        wall = time.perf_counter() - started
        simulated = result.dataset["metric_fixed_point_error"].values.mean(axis=0)
        predicted = theory["fixed_point_error"][::eval_every]
        rows.append({
            "discount": discount, "learning_rate": learning_rate,
            "plateau_simulated": plateau(simulated), "plateau_theory": plateau(predicted),
            "plateau_gap": abs(plateau(simulated) / plateau(predicted) - 1),
            "curve_gap": float(np.abs(np.log(simulated[1:] / predicted[1:])).mean()),
            "wall_s": wall,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="256 seeds, 400 updates, 15 settings")
    args = parser.parse_args()
    grid, seeds, steps = (FULL_GRID, 256, 400) if args.full else (QUICK_GRID, 64, 200)
    rows = td_dynamics_gaps(grid, seeds, steps)
    print(f"TD(0) on the value task {TASK}, {seeds} seeds, {steps} updates")
    print(f"{'γ':>5} {'η':>5} {'plateau sim':>12} {'theory':>10} {'gap':>7} {'curve gap':>10} {'wall s':>7}")
    for row in rows:
        print(f"{row['discount']:5.2f} {row['learning_rate']:5.2f} {row['plateau_simulated']:12.3e} "
              f"{row['plateau_theory']:10.3e} {100 * row['plateau_gap']:6.1f}% {100 * row['curve_gap']:9.1f}% "
              f"{row['wall_s']:7.1f}")
    worst = max(max(r["plateau_gap"], r["curve_gap"]) for r in rows)
    print(f"worst gap {100 * worst:.1f}% (target 10%)")


if __name__ == "__main__":
    main()
