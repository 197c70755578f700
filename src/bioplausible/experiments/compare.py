"""Compare learning rules: the same task, the same seeds (hence the same data), many circuits,
one tidy table."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..circuits.base import CIRCUITS, Circuit, make_circuit
from ..substrates.base import SUBSTRATES, make_substrate
from ..tasks.base import TASKS, Task, make_task
from .run import run

__all__ = ["compare", "default_comparison", "summary_table", "headline_table", "format_headline", "family_tasks",
           "substrate_agreement", "not_run", "NOT_RUN",
           "QUICK_BUDGET_S", "UNESTIMATED_S", "quick_substrate_options", "quick_substrate_steps",
           "quick_compiled_steps"]

#: The ``metric`` of a row that records a circuit × substrate pair that did not run (its ``reason``).
NOT_RUN = "not_run"


def compare(
    circuits: Sequence[Circuit | str],
    task: Task | str,
    seeds: Iterable[int] = (0, 1, 2),
    substrates: Sequence[str] = ("rate",),
    steps: int | None = None,
    *,
    progress: bool = False,
    substrate_options: dict[str, dict[str, Any]] | None = None,
    **run_options: Any,
) -> pd.DataFrame:
    """Run every circuit on ``task`` for every seed and substrate; return a tidy DataFrame.

    Columns: ``circuit, family, task, substrate, seed, step, metric, value, wall_time_s,
    reason`` (one row per circuit × substrate × seed × metric × recorded step; whole-run
    summaries have step NaN). A pair the substrate does not support
    (``substrate.supports(circuit)``) is not run but appears, one row per seed, with metric
    :data:`NOT_RUN`, value NaN and the substrate's ``reason`` (:func:`not_run` lists them);
    ``reason`` is empty on the rows of runs. ``circuits`` holds Circuit instances or registered names (default
    parameters), ``task`` a Task or a registered name. The seeds of one circuit run as one
    ensemble; every circuit sees the same task data for the same seed (the task's data seed
    is spawned from the run seed alone). ``substrate_options`` maps a substrate name to its
    options. Plot the table with :mod:`bioplausible.plotting`.
    """
    if isinstance(circuits, (Circuit, str)) or not isinstance(circuits, Sequence):
        raise TypeError(f"circuits must be a sequence of circuits or names, got {type(circuits).__name__}")
    if not circuits:
        raise ValueError("circuits must name at least one circuit")
    made: list[Circuit | str] = [make_circuit(c) if isinstance(c, str) else c for c in circuits]
    for circuit in made:
        if not isinstance(circuit, Circuit):
            raise TypeError(f"circuits must hold Circuit instances or names, got {type(circuit).__name__}")
    instances = [c for c in made if isinstance(c, Circuit)]
    if isinstance(task, str):
        task = make_task(task)
    if not isinstance(task, Task):
        raise TypeError(f"task must be a Task or a task name, got {type(task).__name__}")
    if isinstance(seeds, (int, str)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be an iterable of integers, got {seeds!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    if isinstance(substrates, str) or not isinstance(substrates, Sequence) or not substrates:
        raise TypeError(f"substrates must be a non-empty sequence of names, got {substrates!r}")
    for substrate in substrates:
        if substrate not in SUBSTRATES:
            raise ValueError(f"substrates: unknown substrate {substrate!r}; available: {sorted(SUBSTRATES)}")
    frames = []
    for circuit in instances:
        for substrate in substrates:
            options = (substrate_options or {}).get(substrate)
            reason = make_substrate(substrate, **(options or {})).supports(circuit)
            if reason:
                frames.append(_not_run_rows(circuit, task, substrate, seeds, reason))
                continue
            fresh = copy.deepcopy(circuit)
            fresh.state, fresh.steps = {}, 0
            result = run(fresh, task, substrate, seeds=seeds, steps=steps, progress=progress,
                         substrate_options=options, **run_options)
            frame = result.to_dataframe()
            frame.insert(0, "substrate", substrate)
            frame.insert(0, "task", task.name)
            frame.insert(0, "family", circuit.family)
            frame.insert(0, "circuit", circuit.name)
            frame["wall_time_s"] = result.dataset.attrs["wall_time_s"]
            frame["reason"] = ""
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _not_run_rows(circuit: Circuit, task: Task, substrate: str, seeds: Sequence[int], reason: str) -> pd.DataFrame:
    return pd.DataFrame({
        "circuit": circuit.name, "family": circuit.family, "task": task.name, "substrate": substrate,
        "seed": list(seeds), "step": float("nan"), "metric": NOT_RUN, "value": float("nan"),
        "wall_time_s": 0.0, "reason": reason,
    })


def not_run(frame: pd.DataFrame) -> pd.DataFrame:
    """The circuit × substrate pairs of a comparison that did not run, with the reason."""
    if "reason" not in frame:
        return pd.DataFrame(columns=["family", "circuit", "substrate", "reason"])
    rows = frame[frame["metric"] == NOT_RUN]
    return rows[["family", "circuit", "substrate", "reason"]].drop_duplicates().reset_index(drop=True)


def family_tasks() -> dict[str, type[Task]]:
    """Each family's default task (the registered task whose ``family`` names it)."""
    return {cls.family: cls for cls in TASKS.values() if cls.family}


def default_comparison(
    families: Sequence[str] | None = None,
    seeds: Iterable[int] = (0, 1, 2),
    substrates: Sequence[str] = ("rate", "spiking"),
    quick: bool = True,
    progress: bool = False,
    workers: int | None = None,
) -> pd.DataFrame:
    """Every family (or ``families``) on its default task with every circuit registered for it.

    Quick mode uses each task's ``quick_options``/``quick_steps`` and each circuit's
    ``quick_params``; on the spiking substrate each task's ``quick_spiking_options`` and, where
    it sets one, its ``quick_spiking_steps`` (fewer updates than the rate run: the spiking row's
    last step says how many), or its ``quick_compiled_spiking_steps`` for a circuit whose
    learning the substrate runs in generated code (``Cost.generated_code``). Every circuit
    runs on every substrate that supports it (``substrate.supports(circuit)``); in quick mode
    a run the substrate estimates (``substrate.estimate_cost``) to take more than
    :data:`QUICK_BUDGET_S` is not run either.
    Every pair that does not run appears as :data:`NOT_RUN` rows with the substrate's reason
    (:func:`not_run`); none is dropped. Full mode uses the tasks' and circuits' defaults (and the same spiking options).
    A family added later appears here without changes: it registers a task with ``family``
    and circuits whose ``default_task`` is that task.

    ``workers`` runs the circuit × substrate runs in that many processes (default: up to two,
    one per core, when the estimated work exceeds :data:`POOL_WORTH_S`; 1 runs them here), the
    costliest first (by the substrates' estimates); every
    run is seeded by its own seeds, so the table is the same for any number of workers.
    """
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers must be an integer >= 1 or None, got {workers!r}")
    tasks = family_tasks()
    seeds = list(seeds)
    families = list(tasks) if families is None else list(families)
    unknown = [f for f in families if f not in tasks]
    if unknown:
        raise ValueError(f"unknown families {unknown}; available: {sorted(tasks)}")
    frames: list[pd.DataFrame | None] = []
    jobs: list[tuple[float, int, dict[str, Any]]] = []
    for family in families:
        task_cls = tasks[family]
        task = task_cls(**(task_cls.quick_options if quick else {}))
        steps = (task_cls.quick_steps or task.default_steps) if quick else task.default_steps
        for cls in CIRCUITS.values():
            if cls.default_task != task_cls.name:
                continue
            circuit = cls(**(cls.quick_params if quick else {}))
            circuit_steps = (cls.quick_steps or steps) if quick else steps
            for substrate in substrates:
                options = (quick_substrate_options(task_cls, substrate) if quick
                           else task_cls.spiking_run_options(False, cls) if substrate == "spiking" else {})
                run_steps = quick_substrate_steps(task_cls, substrate, circuit_steps) if quick else circuit_steps
                eval_every = _eval_every(task, run_steps, substrate)
                engine = make_substrate(substrate, **options)
                reason, seconds = engine.supports(circuit), 0.0
                if reason is None:
                    cost = engine.estimate_cost(circuit, task, run_steps, len(seeds), eval_every)
                    longer = quick_compiled_steps(task_cls, substrate, circuit_steps) if quick else run_steps
                    if longer > run_steps:  # the more presentations a run in generated code affords
                        interval = _eval_every(task, longer, substrate)
                        compiled = engine.estimate_cost(circuit, task, longer, len(seeds), interval)
                        if compiled is not None and compiled.generated_code:
                            run_steps, eval_every, cost = longer, interval, compiled
                    seconds = UNESTIMATED_S if cost is None else cost.seconds
                    if quick and cost is not None and cost.seconds > QUICK_BUDGET_S:
                        reason = (f"the {substrate} substrate estimates {cost.seconds:.0f} s for the quick run "
                                  f"({cost.detail}), over the quick comparison's {QUICK_BUDGET_S:.0f} s per "
                                  "circuit; run with quick=False")
                if reason:
                    frames.append(_not_run_rows(circuit, task, substrate, seeds, reason))
                    continue
                jobs.append((seconds, len(frames), {
                    "circuits": [circuit], "task": task, "seeds": seeds, "substrates": [substrate],
                    "steps": run_steps, "progress": progress, "substrate_options": {substrate: options},
                    "eval_every": eval_every}))
                frames.append(None)
    if workers is None:  # a second process pays its start (≈ 3 s: imports) only for enough work
        workers = min(2, os.cpu_count() or 1) if sum(job[0] for job in jobs) > POOL_WORTH_S else 1
    jobs.sort(key=lambda job: -job[0])  # the costliest first: the workers finish together
    if workers == 1 or len(jobs) < 2:
        for _, index, arguments in jobs:
            frames[index] = compare(**arguments)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [(index, pool.submit(compare, **arguments)) for _, index, arguments in jobs]
            for index, future in futures:
                frames[index] = future.result()
    return pd.concat(frames, ignore_index=True)


#: The most a quick comparison spends on one circuit on one substrate (the substrate's own
#: estimate, ``substrate.estimate_cost``): the quick comparison as a whole stays near 2 minutes.
QUICK_BUDGET_S = 20.0
#: The place in the workers' queue of a run whose substrate makes no estimate (rate runs of the
#: quick comparison take 0.1–10 s): among the spiking runs, not after them all.
UNESTIMATED_S = 5.0
#: Estimated seconds of work above which ``default_comparison`` uses a second process by default.
POOL_WORTH_S = 30.0


def quick_substrate_options(task_cls: type[Task], substrate: str) -> dict[str, Any]:
    """The options the quick comparison gives ``substrate`` for ``task_cls``'s family."""
    return dict(task_cls.quick_spiking_options) if substrate == "spiking" else {}


def quick_compiled_steps(task_cls: type[Task], substrate: str, steps: int) -> int:
    """The updates of a quick spiking run whose learning is one run in generated code: the
    task's ``quick_compiled_spiking_steps`` (at most ``steps``), else :func:`quick_substrate_steps`."""
    limit = task_cls.quick_compiled_spiking_steps if substrate == "spiking" else None
    return quick_substrate_steps(task_cls, substrate, steps) if limit is None else min(steps, limit)


def quick_substrate_steps(task_cls: type[Task], substrate: str, steps: int) -> int:
    """The updates of a quick run on ``substrate``: ``steps``, or the task's
    ``quick_spiking_steps`` on spikes when that is fewer."""
    limit = task_cls.quick_spiking_steps if substrate == "spiking" else None
    return steps if limit is None else min(steps, limit)


#: Evaluation points of a rate learning curve in the default comparison (at least).
CURVE_POINTS = 20


def _eval_every(task: Task, steps: int, substrate: str) -> int:
    """The task's evaluation interval, shortened on the rate substrate so that a learning
    curve has at least :data:`CURVE_POINTS` points (scoring a rate circuit is cheap; a spiking
    one re-simulates, so spiking keeps the task's interval)."""
    interval = min(task.default_eval_every, steps)
    if substrate == "rate" and steps // interval < CURVE_POINTS:
        interval = max(1, steps // CURVE_POINTS)
    return interval


def summary_table(frame: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Final value of each metric (last step, or the summary), mean ± sd over seeds."""
    final = _final_values(frame, metrics)
    grouped = final.groupby(["family", "circuit", "substrate", "metric"])["value"]
    table = grouped.agg(["mean", "std"]).reset_index()
    table["std"] = table["std"].fillna(0.0)
    return table


#: Why a headline value is missing, by metric (the generic reason otherwise).
_MISSING = {
    "recovery_time": "never within the recovery threshold",
    "steps_to_final_sinr": "never reached",
}


def headline_table(frame: pd.DataFrame, substrates: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per circuit: its family's headline metric (the first of the task's
    ``headline_metrics``) per substrate as ``mean ± sd`` over seeds, and beside it the
    published number and our full-setting number from :mod:`~bioplausible.experiments.references`
    (with the setting they are for and where they come from).

    A value that is missing prints as ``—`` with its reason: a substrate the circuit did not
    run on, or a metric undefined in every seed (e.g. ``recovery_time`` when no context
    recovered); one undefined in some seeds prints the mean over the others and how many.
    A substrate whose run was shorter than another's (the quick comparison gives spikes fewer
    updates) says so, ``… after N updates``: that cell is an earlier point of learning.
    """
    from .references import REFERENCES

    substrates = list(dict.fromkeys(frame["substrate"])) if substrates is None else list(substrates)
    tasks = {cls.name: cls for cls in TASKS.values()}
    reasons = {(r.circuit, r.substrate): r.reason for r in not_run(frame).itertuples()}
    rows = []
    for (family, circuit), part in frame.groupby(["family", "circuit"], sort=False):
        task_cls = tasks.get(part["task"].iloc[0])
        metric = (task_cls.headline_metrics[0] if task_cls is not None and task_cls.headline_metrics
                  else str(part.loc[part["metric"] != NOT_RUN, "metric"].iloc[0]))
        final = _final_values(part, [metric])
        row: dict[str, Any] = {"family": family, "circuit": circuit, "metric": metric}
        lengths = part[part["metric"] == metric].groupby("substrate")["step"].max()
        longest = lengths.max() if lengths.notna().any() else None
        for substrate in substrates:
            values = final.loc[final["substrate"] == substrate, "value"].to_numpy(dtype=float)
            row[substrate] = _cell(metric, values, substrate, reasons.get((circuit, substrate)))
            length = lengths.get(substrate)
            if values.size and longest is not None and pd.notna(length) and length < longest:
                row[substrate] += f" after {int(length)} updates"  # a shorter run than the other substrate's
        reference = REFERENCES.get(circuit)
        row["published"] = "—" if reference is None or reference.published is None else reference.published
        row["ours (full)"] = "—" if reference is None or reference.ours_full is None else reference.ours_full
        row["reference setting"] = "—" if reference is None else reference.setting
        row["source"] = "—" if reference is None else reference.source
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(metric: str, values: np.ndarray, substrate: str, reason: str | None = None) -> str:
    if values.size == 0:
        return f"— (not run on {substrate}{': see below' if reason else ''})"
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return f"— ({_MISSING.get(metric, 'undefined')} in every seed)"
    spread = f" ± {np.std(finite, ddof=1):.3g}" if finite.size > 1 else " (1 seed)"
    text = f"{np.mean(finite):.3g}{spread}"
    if finite.size < values.size:
        text += f" ({finite.size} of {values.size} seeds; others {_MISSING.get(metric, 'undefined')})"
    return text


def format_headline(table: pd.DataFrame, references: bool = True, frame: pd.DataFrame | None = None) -> str:
    """The headline table as aligned text: the reference settings and sources, and (given the
    comparison's ``frame``) why each circuit × substrate pair that did not run did not, below."""
    reasons = {} if frame is None else {(r.circuit, r.substrate): r.reason for r in not_run(frame).itertuples()}
    columns = [c for c in table.columns if c not in ("reference setting", "source")]
    if not references:
        columns = [c for c in columns if c not in ("published", "ours (full)")]
    shown = table[columns].astype(str)
    widths = {c: max(len(c), *(len(v) for v in shown[c])) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(row[c].ljust(widths[c]) for c in columns) for _, row in shown.iterrows()]
    if references and "source" in table:
        notes = table.loc[table["source"] != "—", ["circuit", "reference setting", "source"]]
        if not notes.empty:
            lines.append("published / ours (full) are for another setting than the quick one:")
            lines += [f"  {r.circuit}: {r['reference setting']} — {r.source}" for _, r in notes.iterrows()]
    shorter = sorted({c for c in columns for v in shown[c] if " updates" in v and c not in ("circuit", "family")})
    if shorter:
        lines.append(f"'after N updates' ({', '.join(shorter)}): a shorter run than the other substrate's (the quick "
                     "comparison's budget), so it is not the same point of learning; results.csv has both curves")
    if reasons:
        lines.append("not run:")
        grouped: dict[tuple[str, str], list[str]] = {}
        for (circuit, substrate), reason in reasons.items():
            grouped.setdefault((substrate, reason), []).append(circuit)
        lines += [f"  on {substrate}, {', '.join(circuits)}: {reason}"
                  for (substrate, reason), circuits in grouped.items()]
    return "\n".join(lines)


def headline_metrics_of(frame: pd.DataFrame) -> list[str]:
    """The headline metrics of the tasks in a comparison table, in the tasks' order (every
    metric of a task that names none)."""
    names: list[str] = []
    tasks = {cls.name: cls for cls in TASKS.values()}
    for task_name in frame["task"].unique():
        cls = tasks.get(task_name)
        names.extend(cls.headline_metrics if cls is not None and cls.headline_metrics else
                     frame.loc[frame["task"] == task_name, "metric"].unique())
    return list(dict.fromkeys(names))


def substrate_agreement(frame: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Final value of each metric on two substrates (``rate`` and ``spiking``) per circuit and
    seed, with ``difference = spiking − rate`` and ``relative = |difference| / |rate|``.

    Only circuits that ran on both substrates appear; an empty frame when none did.
    """
    table = _final_values(frame, metrics)
    wide = table.pivot_table(index=["family", "circuit", "metric", "seed"], columns="substrate",
                             values="value").reset_index()
    if "rate" not in wide or "spiking" not in wide:
        return pd.DataFrame(columns=["family", "circuit", "metric", "seed", "rate", "spiking",
                                     "difference", "relative"])
    wide = wide.dropna(subset=["rate", "spiking"])
    wide["difference"] = wide["spiking"] - wide["rate"]
    wide["relative"] = wide["difference"].abs() / wide["rate"].abs()
    wide.columns.name = None
    return wide[["family", "circuit", "metric", "seed", "rate", "spiking", "difference", "relative"]]


def _final_values(frame: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per circuit × substrate × seed × metric: the value at the last step (or the summary)."""
    frame = frame[frame["metric"] != NOT_RUN]
    last_step = frame.groupby(["circuit", "substrate", "metric"])["step"].transform("max")
    final = frame[frame["step"].isna() | (frame["step"] == last_step)]
    return final[final["metric"].isin(headline_metrics_of(frame) if metrics is None else metrics)]
