"""The runner: task → circuit (on a substrate) → probes → :class:`Result`."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, cast

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ..circuits.base import Batch, Circuit, trusted_activities
from ..core import AnyBatch
from ..core.trials import TrialBatch
from ..substrates.base import Substrate, make_substrate
from ..tasks.base import Task
from ..validation import check_integer, check_seed
from .metadata import annotate, readable_config, state_dims
from .probes import KernelProbe, KernelRecorder, Probe, TraceRecorder
from .results import (
    ACTIVITY_PREFIX,
    FINAL_STATE_PREFIX,
    METRIC_PREFIX,
    STATE_PREFIX,
    SUMMARY_PREFIX,
    Result,
)

#: Environment variable that caps the updates of every run: the one place the library reads it.
QUICK_ENVIRONMENT_VARIABLE = "BIOPLAUSIBLE_QUICK"


def quick_step_cap() -> int | None:
    """The step cap set by ``BIOPLAUSIBLE_QUICK`` (unset, empty or ``0``: no cap).

    ``BIOPLAUSIBLE_QUICK=N`` (a positive integer) makes every :func:`run` — hence every
    :func:`~bioplausible.compare`, CLI command and example — stop after at most ``N`` updates,
    whatever ``steps`` it was given: a smoke-test size for documentation and CI (the README's
    code is tested this way). Results under a cap are not the circuits' results; the cap is
    stored in the result's ``quick_step_cap`` attribute.
    """
    value = os.environ.get(QUICK_ENVIRONMENT_VARIABLE, "").strip()
    if value in ("", "0"):
        return None
    message = f"{QUICK_ENVIRONMENT_VARIABLE} must be a positive integer (a step cap), got {value!r}"
    try:
        cap = int(value)
    except ValueError:
        raise ValueError(message) from None
    if cap < 1:
        raise ValueError(message)
    return cap


def run(
    circuit: Circuit,
    task: Task,
    substrate: str | Substrate = "rate",
    seed: int = 0,
    steps: int | None = None,
    *,
    seeds: Sequence[int] | None = None,
    batch_size: int | None = None,
    eval_every: int | None = None,
    probes: Sequence[str | Probe] = (),
    progress: bool = True,
    substrate_options: dict[str, Any] | None = None,
    blas_threads: int | None = 1,
) -> Result:
    """Train ``circuit`` on ``task`` with its local rules and record metrics and probes.

    ``seed`` drives everything: it is split (``SeedSequence.spawn``) into the task's data
    seed, the circuit's initial weights and the substrate's randomness. ``seeds=[...]``
    runs an ensemble: member k is exactly the single run with ``seed=seeds[k]``, computed
    as one batched simulation.

    The circuit is trained **in place** (its learned arrays are the run's final state, as in
    ``result.final_state()``). Calling ``run`` again on the same circuit:

    * with the seeds it was last run with, learning *resumes* from its state and the task
      stream is advanced past the ``circuit.steps`` updates already made, so a run split in
      two equals the whole;
    * with other seeds (``seeds=range(10)`` after ``seed=0``), the circuit is re-initialised
      from those seeds and trained from scratch: the result is the same as on a fresh circuit.

    A circuit initialised by hand or loaded with ``load_state_dict`` resumes when its
    ensemble size matches the number of seeds.

    ``steps`` counts updates (each on ``batch_size`` samples); the task is scored every
    ``eval_every`` updates. ``probes`` names populations (activity of the last sample at
    each evaluation) or state arrays (their value at each evaluation), and may hold
    :class:`~bioplausible.experiments.probes.Probe` objects: these record the activity that
    the substrate hands to the circuit's rules at every update (rate fixed points, or
    decoded spike counts), subsampled and in bounded chunks, optionally spilled to disk; and
    a :class:`~bioplausible.experiments.probes.KernelProbe`: the rule's effective NTK and
    kernel–task alignments every k updates (layered supervised circuits).

    ``blas_threads`` caps the BLAS thread pools during the run (threadpoolctl; ``None``
    leaves them as they are). The default, one thread, is the fastest for the small matrices
    of these circuits and does not collapse when other processes (a sweep's workers) share
    the cores; larger values help only for very wide layers on an idle machine.

    Every argument, and whether the task can score the circuit and the substrate can run
    it, is checked before any work.
    """
    if not isinstance(circuit, Circuit):
        raise TypeError(f"circuit must be a bioplausible Circuit, got {type(circuit).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a bioplausible Task, got {type(task).__name__}")
    if seeds is not None and (isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray, range))):
        raise TypeError(f"seeds must be a sequence of integers, got {seeds!r}")
    if substrate_options is not None and not isinstance(substrate_options, Mapping):
        raise TypeError(f"substrate_options must be a mapping of option names to values, got {substrate_options!r}")
    seed_list = ([check_seed("seed", seed)] if seeds is None
                 else [check_seed(f"seeds[{i}]", s) for i, s in enumerate(seeds)])
    if not seed_list:
        raise ValueError("seeds must hold at least one seed")
    steps = check_integer("steps", task.default_steps if steps is None else steps, 1)
    cap = quick_step_cap()
    if cap is not None:
        steps = min(steps, cap)
    batch_size = check_integer("batch_size", task.default_batch_size if batch_size is None else batch_size, 1)
    eval_every = check_integer("eval_every", task.default_eval_every if eval_every is None else eval_every, 1)
    if blas_threads is not None:
        blas_threads = check_integer("blas_threads", blas_threads, 1)
    task.check_circuit(circuit)
    engine = make_substrate(substrate, **(substrate_options or {}))
    check_supported(engine, circuit)

    sequences = [np.random.SeedSequence(s).spawn(3) for s in seed_list]
    tasks = [copy.deepcopy(task).reset(seed=seq[0]) for seq in sequences]
    resumed_steps = 0
    trained_with = getattr(circuit, "run_seeds", None)
    if circuit.initialized and trained_with is not None and list(trained_with) != seed_list:
        circuit.state, circuit.steps = {}, 0  # other seeds: a fresh start, not a resumption
    if circuit.initialized:
        if circuit.ensemble_size != len(seed_list):
            raise ValueError(
                f"circuit holds {circuit.ensemble_size} ensemble members (a loaded or initialised state) "
                f"but {len(seed_list)} seeds were given; pass {circuit.ensemble_size} seeds to resume it, "
                "or a fresh circuit"
            )
        resumed_steps = circuit.steps
        for member in tasks:
            member.next_batch(resumed_steps * batch_size)
    else:
        circuit.initialize(tasks[0].n_inputs, tasks[0].n_targets, [seq[1] for seq in sequences])
    circuit.run_seeds = tuple(seed_list)
    probes = () if probes is None else probes
    if isinstance(probes, (str, Probe, KernelProbe)) or not isinstance(probes, Sequence):
        raise TypeError(f"probes must be a sequence of names or Probe objects, got {probes!r}")
    traces = [p for p in probes if isinstance(p, Probe)]
    kernel_probes = [p for p in probes if isinstance(p, KernelProbe)]
    names = [p for p in probes if not isinstance(p, (Probe, KernelProbe))]
    _check_probes(circuit, names)
    kernels = KernelRecorder(kernel_probes, circuit, tasks)
    engine.prepare(circuit, sequences[0][2])

    recorder = _Recorder(circuit, tasks, names, engine)
    tracer = TraceRecorder(traces, circuit, seed_list, batch_size, resumed_steps)
    recorder.record(resumed_steps, None, None)
    kernels.record(resumed_steps)
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    done = 0
    try:
        bar = tqdm(total=steps, disable=not progress, desc=f"{circuit.name} [{engine.name}]", unit="step")
        whole = _whole_run_reason(engine, circuit, batch_size, names, [*traces, *kernel_probes])
        with _blas_limited(blas_threads), trusted_activities(), tracer.attached(engine), bar:
            evaluated, parts = 0, []
            if whole is None:
                batch = _stack([member.next_batch(steps * batch_size) for member in tasks])
                learned = cast(Any, engine).learning_run(circuit, batch, eval_every)
                _record_checkpoints(recorder, circuit, batch, learned, resumed_steps)
                done = steps
                bar.update(steps)
            while done < steps:
                # a kernel probe splits the chunk at its records; the evaluation sees the whole chunk
                to_evaluation = min(eval_every, steps - evaluated) - (done - evaluated)
                updates = kernels.next_stop(resumed_steps + done, to_evaluation)
                batch = _stack([member.next_batch(updates * batch_size) for member in tasks])
                activities = engine.learn(circuit, batch, batch_size, resumed_steps + done)
                done += updates
                parts.append((batch, activities))
                kernels.record(resumed_steps + done, last=done == steps)
                if done - evaluated == eval_every or done == steps:
                    scored, scored_activities = parts[0] if len(parts) == 1 else _concatenate(parts)
                    recorder.record(resumed_steps + done, scored, scored_activities)
                    evaluated, parts = done, []
                bar.update(updates)
    finally:
        engine.close()
    wall_time = time.perf_counter() - started
    attrs = {
        "circuit": json.dumps(circuit.config()),
        "task": json.dumps(tasks[0].config()),
        "substrate": json.dumps(engine.config()),
        "substrate_name": engine.name,
        "seeds": json.dumps(seed_list),
        "steps": steps,
        "quick_step_cap": 0 if cap is None else cap,
        "final_steps": circuit.steps,
        "batch_size": batch_size,
        "eval_every": eval_every,
        "wall_time_s": wall_time,
        "started_at": started_at,
        "bioplausible_version": _version(),
        "populations": json.dumps([
            {"name": p.name, "size": p.size, "role": p.role, "offset": p.offset} for p in circuit.populations()
        ]),
        "sample_duration_s": float(getattr(engine, "presentation", 1.0)),
        "final_extra_state": json.dumps(circuit.state_dict()["extra"], default=str),
    }
    if hasattr(engine, "learning_run_reason"):
        attrs["learning_run"] = ("one run in generated code" if whole is None
                                 else f"chunks with Python between presentations: {whole}")
    attrs.update(readable_config(attrs))
    dataset = _add_spikes(recorder.dataset(seed_list, attrs), getattr(engine, "spikes", None))
    return Result(annotate(kernels.merge(tracer.merge(dataset))))


class _Recorder:
    """Collects metrics and probes at evaluation points."""

    def __init__(self, circuit: Circuit, tasks: list[Task], probes: Sequence[str], substrate: Substrate) -> None:
        self.circuit, self.tasks, self.probes, self.substrate = circuit, tasks, list(probes), substrate
        self.steps: list[int] = []
        self.metrics: list[list[dict[str, float]]] = []
        self.recorded: dict[str, list[np.ndarray]] = {name: [] for name in self.probes}

    def record(self, step: int, batch: AnyBatch | None, activities: dict[str, np.ndarray] | None) -> None:
        self.steps.append(step)
        self.metrics.append([
            task.score(self.circuit.member(k), None if batch is None else batch.member(k), self.substrate)
            for k, task in enumerate(self.tasks)
        ])
        for name in self.probes:
            if name in self.circuit.state:
                self.recorded[name].append(self.circuit.state[name].copy())
            elif activities is None:
                size = next(p.size for p in self.circuit.populations() if p.name == name)
                self.recorded[name].append(np.full((len(self.tasks), size), np.nan))
            else:
                self.recorded[name].append(activities[name][:, -1, :].copy())

    def dataset(self, seeds: list[int], attrs: dict[str, Any]) -> xr.Dataset:
        coords = {"seed": np.asarray(seeds), "step": np.asarray(self.steps)}
        data: dict[str, Any] = {}
        for name in self.metrics[0][0]:
            values = np.array([[point[k][name] for point in self.metrics] for k in range(len(seeds))])
            data[METRIC_PREFIX + name] = (("seed", "step"), values)
        steps = np.asarray(self.steps)
        for k, task in enumerate(self.tasks):
            trace = {name: data[METRIC_PREFIX + name][1][k] for name in self.metrics[0][0]}
            for name, value in task.summarize(trace, steps).items():
                data.setdefault(SUMMARY_PREFIX + name, (("seed",), np.full(len(seeds), np.nan)))[1][k] = value
        axes = {name: state_dims(self.circuit, name, value.shape[1:]) for name, value in self.circuit.state.items()}
        for name, recorded in self.recorded.items():
            stacked = np.stack(recorded, axis=1)
            prefix = STATE_PREFIX if name in self.circuit.state else ACTIVITY_PREFIX
            dims = axes[name][0] if name in axes else (f"{name}_unit_all",)  # traces own <name>_unit
            data[prefix + name] = (("seed", "step", *dims), stacked)
        for name, array in self.circuit.state.items():
            data[FINAL_STATE_PREFIX + name] = (("seed", *axes[name][0]), array.copy())
        dataset = xr.Dataset(data, coords=coords, attrs=attrs)
        for name in self.recorded:
            if name not in axes:
                dataset = dataset.assign_coords({f"{name}_unit_all": np.arange(dataset.sizes[f"{name}_unit_all"])})
        for dims, long_names in axes.values():
            for dim in dims:
                dataset = dataset.assign_coords({dim: np.arange(dataset.sizes[dim])})
                dataset[dim].attrs.update(long_name=long_names[dim], units="1")
        return dataset


def _add_spikes(dataset: xr.Dataset, spikes: dict[str, list[tuple[np.ndarray, ...]]] | None) -> xr.Dataset:
    """Spikes a substrate recorded, as flat ``spikes_<p>`` (time, s), ``spikes_<p>_unit`` and
    ``spikes_<p>_member`` arrays along ``spikes_<p>_index``."""
    for population, parts in (spikes or {}).items():
        member, unit, times = (np.concatenate([part[i] for part in parts]) if parts else np.zeros(0)
                               for i in range(3))
        dim = f"spikes_{population}_index"
        dataset[f"spikes_{population}"] = ((dim,), times.astype(float))
        dataset[f"spikes_{population}_unit"] = ((dim,), unit.astype(np.int32))
        dataset[f"spikes_{population}_member"] = ((dim,), member.astype(np.int32))
    return dataset


def _whole_run_reason(engine: Substrate, circuit: Circuit, batch_size: int, probes: Sequence[str],
                      traces: Sequence[Any]) -> str | None:
    """None when the substrate runs the whole learning run at once (``learning_run``: the
    spiking substrate in Brian2's generated code), else why it runs chunk by chunk."""
    reason_of = getattr(engine, "learning_run_reason", None)
    if reason_of is None:
        return f"the {engine.name} substrate learns chunk by chunk"
    if batch_size != 1:
        return f"batch_size is {batch_size} (a whole run learns after every sample)"
    if traces:
        return "activity traces or kernel probes read every update"
    activity = [name for name in probes if name not in circuit.state]
    if activity:
        return f"probes of populations {activity} read activities at every evaluation"
    return reason_of(circuit)


def _record_checkpoints(recorder: _Recorder, circuit: Circuit, batch: AnyBatch, result: dict[str, Any],
                        first: int) -> None:
    """Score a whole run at its checkpoints (each with the chunk of samples that led to it),
    then leave the circuit in its final state."""
    final = {name: value.copy() for name, value in circuit.state.items()}
    steps = [int(s) for s in result["checkpoint_steps"]]
    try:
        for index in range(1, len(steps)):
            for name, stacked in result["checkpoints"].items():
                circuit.state[name] = stacked[index]
            recorder.record(steps[index], batch[steps[index - 1] - first: steps[index] - first], None)
    finally:
        circuit.state.update(final)
    if steps[-1] != circuit.steps:  # the last interval was shorter than eval_every
        recorder.record(circuit.steps, batch[steps[-1] - first: circuit.steps - first], None)


def check_supported(substrate: Substrate, circuit: Circuit) -> None:
    """Raise ``ValueError`` before any work when ``substrate.supports(circuit)`` gives a reason."""
    reason = substrate.supports(circuit)
    if reason:
        raise ValueError(f"{circuit.name} cannot run on the {substrate.name} substrate: {reason}")


@contextlib.contextmanager
def _blas_limited(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    global _THREADPOOLS
    if _THREADPOOLS is None:  # inspecting the loaded libraries is the costly part: once per process
        from threadpoolctl import ThreadpoolController

        _THREADPOOLS = ThreadpoolController()
    with _THREADPOOLS.limit(limits=threads, user_api="blas"):
        yield


_THREADPOOLS: Any = None


def _check_probes(circuit: Circuit, probes: Sequence[str]) -> None:
    if isinstance(probes, str):
        raise TypeError("probes must be a sequence of names, not a single string")
    available = [p.name for p in circuit.populations()] + list(circuit.state)
    for name in probes:
        if name not in available:
            raise ValueError(f"probes: unknown name {name!r}; available: {available}")


def _stack(batches: Sequence[AnyBatch]) -> AnyBatch:
    """The batches of K task copies as one ensemble batch (a leading axis K); trials
    (:class:`~bioplausible.core.TrialBatch`) keep their mask and step length."""
    targets = None if batches[0].targets is None else np.stack([np.asarray(b.targets) for b in batches])
    info = {key: np.stack([b.info[key] for b in batches]) for key in batches[0].info}
    inputs = np.stack([b.inputs for b in batches])
    trials = [b for b in batches if isinstance(b, TrialBatch)]
    if trials:
        mask = None if all(t.mask is None for t in trials) else np.stack([t.scored for t in trials])
        return TrialBatch(inputs, targets, mask, info, trials[0].dt)
    return Batch(inputs, targets, info)


def _concatenate(parts: Sequence[tuple[AnyBatch, dict[str, np.ndarray] | None]]
                 ) -> tuple[AnyBatch, dict[str, np.ndarray] | None]:
    """Consecutive (K, B_i, ·) chunks as one (K, ΣB_i, ·) chunk (batches and activities)."""
    batches = [b for b, _ in parts]
    targets = None if batches[0].targets is None else np.concatenate([b.targets for b in batches], axis=1)
    info = {key: np.concatenate([b.info[key] for b in batches], axis=1) for key in batches[0].info}
    inputs = np.concatenate([b.inputs for b in batches], axis=1)
    trials = [b for b in batches if isinstance(b, TrialBatch)]
    batch: AnyBatch
    if trials:
        mask = None if all(t.mask is None for t in trials) else np.concatenate([t.scored for t in trials], axis=1)
        batch = TrialBatch(inputs, targets, mask, info, trials[0].dt)
    else:
        batch = Batch(inputs, targets, info)
    chunks = [a for _, a in parts if a is not None]
    if len(chunks) < len(parts):
        return batch, None
    activities = {name: np.concatenate([a[name] for a in chunks], axis=1) for name in chunks[0]}
    return batch, activities


def _version() -> str:
    from .. import __version__

    return __version__
