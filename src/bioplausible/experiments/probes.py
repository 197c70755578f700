"""Activity probes: record what a substrate hands to the circuit's rules, within a memory bound.

Every substrate hands each update's activities to the circuit's rules through
``substrate.apply_rules`` (rate fixed points on the rate substrate, decoded spike counts
``count/(r0 T) − offset`` on the spiking substrate), and a fused per-sample loop reports its
per-sample activities with ``substrate.observe_stream``. A :class:`Probe` observes the
substrate there, so it records the *same* quantity on every substrate and path (a
population a fused loop does not compute per sample is recorded as missing, NaN).

Memory bound. A probe keeps at most ``chunk`` records in memory; a record is one recorded
sample of every probed population for every ensemble member, ``8 K Σ_p u_p`` bytes (float64,
K members, ``u_p`` recorded units of population p) plus ``8 (2 + K n_info)`` bytes of
indices and labels. With ``spill`` set, full chunks are appended to an HDF5 (netCDF4) file
and dropped, so the probe's memory stays below

    chunk × 8 × (K Σ_p u_p + K n_info + 2) bytes

however long the run (measured in ``tests/test_probes.py``). Without ``spill`` the chunks
stay in memory (the whole recording, ``records × 8 × (...)``). Subsampling controls
``records``: one update in ``every``, ``samples`` samples of each recorded update, at most
``units`` units of each population (evenly spaced indices).

The recording appears in the result as ``trace_<population>`` (seed, trace_time,
``<population>_unit``) and ``trace_info_<label>`` (seed, trace_time), with coordinates
``trace_time`` (index of the sample in the training stream) and ``trace_update``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import xarray as xr

from ..circuits.base import Circuit
from ..core import AnyBatch
from ..substrates.base import Substrate
from ..validation import check_integer, check_output_file
from .results import TEMPORARY_SUFFIX, remove_stale_temporaries, user_umask

__all__ = ["Probe", "TraceRecorder", "TRACE_PREFIX", "TRACE_INFO_PREFIX", "KernelProbe", "KernelRecorder",
           "KERNEL_PREFIX"]

TRACE_PREFIX = "trace_"
TRACE_INFO_PREFIX = "trace_info_"


@dataclass(frozen=True)
class Probe:
    """What to record of the activities every update hands to the circuit's rules.

    Parameters
    ----------
    populations:
        Population names to record (``None``: every population, inputs included, so the
        stimulus is recorded beside the responses).
    every:
        Record one update in ``every``.
    samples:
        Samples recorded per recorded update (evenly spaced in the update's mini-batch);
        ``None`` records all of them.
    units:
        At most this many units per population (evenly spaced indices); ``None``: all.
    chunk:
        Records held in memory before a chunk is flushed (the memory bound, see the module).
    spill:
        HDF5/netCDF file that full chunks are appended to; ``None`` keeps them in memory.
    info:
        Also record the batch's per-sample labels (e.g. the active context): the ``info``
        entries with one value per sample; vector-valued entries (such as the true sources
        of a separation batch) are not traced.
    overwrite:
        Replace an existing ``spill`` file. By default an existing file is refused before the
        run starts. The spill is written to a temporary file beside it and renamed into
        place when the run ends, so a killed run never leaves a partial ``spill``.
    """

    populations: tuple[str, ...] | None = None
    every: int = 1
    samples: int | None = 1
    units: int | None = None
    chunk: int = 4096
    spill: str | os.PathLike[str] | None = None
    info: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.populations is not None:
            if isinstance(self.populations, str) or not all(isinstance(p, str) for p in self.populations):
                raise TypeError(f"populations must be a sequence of names, got {self.populations!r}")
            object.__setattr__(self, "populations", tuple(self.populations))
        check_integer("every", self.every, 1)
        if self.samples is not None:
            check_integer("samples", self.samples, 1)
        if self.units is not None:
            check_integer("units", self.units, 1)
        check_integer("chunk", self.chunk, 1)
        if self.spill is not None and not isinstance(self.spill, (str, os.PathLike)):
            raise TypeError(f"spill must be a path or None, got {type(self.spill).__name__}")
        if not isinstance(self.info, bool):
            raise TypeError(f"info must be a bool, got {self.info!r}")
        if not isinstance(self.overwrite, bool):
            raise TypeError(f"overwrite must be a bool, got {self.overwrite!r}")
        if self.spill is not None:
            check_output_file("spill", self.spill)

    def record_bytes(self, circuit: Circuit, ensemble_size: int, n_info: int = 1) -> int:
        """Bytes of one record (one sample of every probed population, all members)."""
        sizes = [_n_units(p.size, self.units) for p in circuit.populations()
                 if self.populations is None or p.name in self.populations]
        return 8 * (ensemble_size * (sum(sizes) + (n_info if self.info else 0)) + 2)

    def memory_bound(self, circuit: Circuit, ensemble_size: int, n_info: int = 1) -> int:
        """Upper bound (bytes) of the probe's buffered data when it spills to disk."""
        return self.chunk * self.record_bytes(circuit, ensemble_size, n_info)


class TraceRecorder:
    """Runs the probes of one :func:`~bioplausible.run` call (used by the runner)."""

    def __init__(self, probes: Sequence[Probe], circuit: Circuit, seeds: list[int], batch_size: int,
                 first_update: int) -> None:
        if len(probes) > 1:
            raise ValueError("probes may hold at most one Probe object (it can name several populations)")
        self.probe = probes[0] if probes else None
        self.circuit, self.seeds, self.batch_size = circuit, seeds, batch_size
        self.update = first_update
        if self.probe is None:
            return
        names = [p.name for p in circuit.populations()]
        wanted = list(self.probe.populations) if self.probe.populations is not None else names
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ValueError(f"probes: unknown populations {unknown}; available: {names}")
        sizes = {p.name: p.size for p in circuit.populations()}
        self.units = {n: _subsample(sizes[n], self.probe.units) for n in wanted}
        self.samples = _subsample(batch_size, self.probe.samples)
        self.buffer: list[dict[str, np.ndarray]] = []
        self.buffered = 0
        self.chunks: list[dict[str, np.ndarray]] = []
        self.info_keys: list[str] | None = None
        self.spill = None if self.probe.spill is None else Path(self.probe.spill)
        if self.spill is not None and self.spill.exists() and not self.probe.overwrite:
            raise ValueError(f"spill: {self.spill} exists; remove it or pass Probe(..., overwrite=True)")
        self._file: Any = None
        self._temporary: Path | None = None
        self.peak_buffer_bytes = 0

    # ---------------------------------------------------------------- capture
    @contextlib.contextmanager
    def attached(self, substrate: Substrate) -> Iterator[None]:
        """Observe ``substrate`` for the duration of the run: every update's activities as
        the substrate hands them to the circuit's rules, fused per-sample loops included."""
        if self.probe is None:
            yield
            return
        try:
            with substrate.observed(self.capture):
                yield
        except BaseException:
            self._discard()
            raise
        self.flush(final=True)

    @property
    def _active(self) -> Probe:
        """The probe being recorded (capture and storage run only when there is one)."""
        if self.probe is None:
            raise RuntimeError("TraceRecorder: no probe is being recorded")
        return self.probe

    def capture(self, activities: Mapping[str, np.ndarray], batch: AnyBatch) -> None:
        probe = self._active
        update = self.update
        self.update += 1
        if update % probe.every:
            return
        size = batch.size
        index = self.samples[self.samples < size]
        record = {"update": np.full(index.size, update), "time": update * self.batch_size + index}
        ensemble = len(self.seeds)
        for name, units in self.units.items():
            if name in activities:
                values = np.asarray(activities[name], dtype=float)
                record[TRACE_PREFIX + name] = values.reshape(ensemble, size, -1)[:, index][..., units]
            else:  # a substrate that does not produce this population: keep the shape, mark missing
                record[TRACE_PREFIX + name] = np.full((ensemble, index.size, units.size), np.nan)
        if probe.info:
            if self.info_keys is None:
                # one label per sample ((K, B)); vector-valued entries (e.g. true sources) are not traced
                self.info_keys = [k for k, v in batch.info.items() if np.shape(v) == (ensemble, size)]
            for key in self.info_keys:
                values = np.asarray(batch.info[key], dtype=float).reshape(ensemble, size)
                record[TRACE_INFO_PREFIX + key] = values[:, index]
        self.buffer.append(record)
        self.buffered += index.size
        self.peak_buffer_bytes = max(self.peak_buffer_bytes, _nbytes(self.buffer))
        if self.buffered >= probe.chunk:
            self.flush()

    def flush(self, final: bool = False) -> None:
        if self.buffer:
            chunk = {key: np.concatenate([r[key] for r in self.buffer], axis=0 if key in ("update", "time") else 1)
                     for key in self.buffer[0]}
            self.buffer, self.buffered = [], 0
            if self.spill is None:
                self.chunks.append(chunk)
            else:
                self._append(chunk)
        if final and self._file is not None:
            self._file.close()
            self._file = None
            temporary, spill = self._temporary, self.spill
            if temporary is not None and spill is not None:  # both are set whenever a file is open
                os.chmod(temporary, 0o666 & ~user_umask())
                os.replace(temporary, spill)
            self._temporary = None

    def _discard(self) -> None:
        """A failed run: close and remove the temporary spill file (the ``spill`` path is untouched)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None

    # ---------------------------------------------------------------- storage
    def _append(self, chunk: dict[str, np.ndarray]) -> None:
        import h5netcdf

        if self._file is None:
            spill = self.spill
            if spill is None:
                raise RuntimeError("TraceRecorder: chunks are appended to a file only with a spill path")
            spill.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(spill)
            handle, name = tempfile.mkstemp(prefix=f".{spill.stem}.", dir=spill.parent,
                                            suffix=f"{TEMPORARY_SUFFIX}{spill.suffix}")
            os.close(handle)
            self._temporary = Path(name)
            self._file = h5netcdf.File(self._temporary, "w")
            self._file.dimensions = {"seed": len(self.seeds), "trace_time": None,
                                     **{f"{n}_unit": u.size for n, u in self.units.items()}}
            self._file.create_variable("seed", ("seed",), data=np.asarray(self.seeds))
            for name, units in self.units.items():
                self._file.create_variable(f"{name}_unit", (f"{name}_unit",), data=units)
            for key, value in chunk.items():
                dims = _dims(key)
                self._file.create_variable(_variable(key), dims, dtype=value.dtype,
                                           chunks=tuple(min(self._active.chunk, 1 << 16) if d == "trace_time"
                                                        else self._file.dimensions[d].size for d in dims))
        start = self._file.dimensions["trace_time"].size
        stop = start + chunk["time"].size
        self._file.resize_dimension("trace_time", stop)
        for key, value in chunk.items():
            variable = self._file.variables[_variable(key)]
            if key in ("update", "time"):
                variable[start:stop] = value
            else:
                variable[:, start:stop, ...] = value
        self._file.flush()

    def merge(self, dataset: xr.Dataset) -> xr.Dataset:
        """Add the recorded traces to the run's dataset (lazily from the spill file)."""
        if self.probe is None:
            return dataset
        if self.spill is not None:
            if not self.spill.exists():
                return dataset
            traces = xr.open_dataset(self.spill, engine="h5netcdf").set_coords("trace_update")
            traces = traces.drop_vars("seed").assign_coords(seed=dataset["seed"].values)
            merged = xr.merge([dataset, traces], combine_attrs="override")
            merged.attrs["trace_spill"] = str(self.spill)
        else:
            if not self.chunks:
                return dataset
            chunk = {key: np.concatenate([c[key] for c in self.chunks], axis=0 if key in ("update", "time") else 1)
                     for key in self.chunks[0]}
            data = {_variable(k): (_dims(k), v) for k, v in chunk.items() if k not in ("update", "time")}
            coords = {"trace_time": chunk["time"], "trace_update": ("trace_time", chunk["update"]),
                      **{f"{n}_unit": u for n, u in self.units.items()}}
            merged = xr.merge([dataset, xr.Dataset(data, coords=coords)], combine_attrs="override")
        merged.attrs["trace_every"] = self.probe.every
        merged.attrs["trace_record_bytes"] = int(self.probe.record_bytes(self.circuit, len(self.seeds),
                                                                         len(self.info_keys or [])))
        merged.attrs["trace_chunk"] = self.probe.chunk
        merged.attrs["trace_peak_buffer_bytes"] = int(self.peak_buffer_bytes)
        return merged


def _variable(key: str) -> str:
    return {"time": "trace_time", "update": "trace_update"}.get(key, key)


def _dims(key: str) -> tuple[str, ...]:
    if key in ("time", "update"):
        return ("trace_time",)
    if key.startswith(TRACE_INFO_PREFIX):
        return ("seed", "trace_time")
    return ("seed", "trace_time", f"{key[len(TRACE_PREFIX):]}_unit")


def _subsample(size: int, count: int | None) -> np.ndarray:
    if count is None or count >= size:
        return np.arange(size)
    return np.unique(np.linspace(0, size - 1, count).round().astype(int))


def _n_units(size: int, count: int | None) -> int:
    return _subsample(size, count).size


def _nbytes(records: list[dict[str, np.ndarray]]) -> int:
    return sum(v.nbytes for r in records for v in r.values())


#: Prefix of the variables a :class:`KernelProbe` adds to a result.
KERNEL_PREFIX = "kernel_"

_KERNEL_VARIABLES = {
    "entk": ("entk_alignment", ("seed", "kernel_step"),
             "kernel-task alignment tr(Y^T K Y)/(|K|_F |Y|_F^2) of the rule's effective NTK on the probe set"),
    "layer": ("entk_layer_alignment", ("seed", "kernel_step", "kernel_layer"),
              "kernel-task alignment of each layer's term of the effective NTK (the last is the readout's)"),
    "share": ("entk_layer_share", ("seed", "kernel_step", "kernel_layer"),
              "share of the effective NTK's trace contributed by each layer's term"),
    "feature": ("feature_alignment", ("seed", "kernel_step", "kernel_hidden_layer"),
                "kernel-task alignment of each hidden layer's feature kernel h h^T / n on the probe set"),
    "kernel": ("entk", ("seed", "kernel_step", "kernel_sample", "kernel_sample_other"),
               "effective NTK (mean of the output-diagonal blocks) on the probe set"),
}


@dataclass(frozen=True, eq=False)
class KernelProbe:
    """The learning rule's effective NTK (Bordelon & Pehlevan, ICLR 2023) and the kernels'
    alignment with the task, every ``every`` updates of a layered supervised circuit
    (backprop, FA, DFA, EBD, Hebb; :func:`bioplausible.analysis.kernels.effective_ntk`).

    Pass it in ``run(..., probes=[KernelProbe(...)])``. The kernels are computed on a fixed
    *probe set*: ``inputs`` (P, n) and ``targets`` (P, C) when given (shared by every
    ensemble member), otherwise the first ``samples`` samples of each member's own task
    stream (drawn from a copy of the task, so training sees the same stream). They are
    computed at update 0 (or the update a resumed run starts from, when a multiple of
    ``every``), after every ``every``-th update and at the end of the run; the run's update chunks are split at
    those updates (the same stream and the same updates; evaluations stay where they were).

    The result gains ``kernel_entk_alignment`` (seed, kernel_step),
    ``kernel_entk_layer_alignment`` and ``kernel_entk_layer_share`` (seed, kernel_step,
    kernel_layer), ``kernel_feature_alignment`` (seed, kernel_step, kernel_hidden_layer) and,
    with ``keep_kernels``, ``kernel_entk`` (seed, kernel_step, kernel_sample,
    kernel_sample_other): P² floats per member and record.
    """

    every: int = 1
    samples: int = 32
    inputs: Any = None
    targets: Any = None
    keep_kernels: bool = False

    def __post_init__(self) -> None:
        check_integer("every", self.every, 1)
        check_integer("samples", self.samples, 2)
        if not isinstance(self.keep_kernels, bool):
            raise TypeError(f"keep_kernels must be a bool, got {self.keep_kernels!r}")
        if (self.inputs is None) != (self.targets is None):
            raise ValueError("KernelProbe: give both inputs and targets (the probe set), or neither")
        if self.inputs is not None:
            inputs = np.asarray(self.inputs, dtype=float)
            targets = np.asarray(self.targets, dtype=float)
            if inputs.ndim != 2 or targets.ndim != 2 or inputs.shape[0] != targets.shape[0] or inputs.shape[0] < 2:
                raise ValueError(f"KernelProbe: inputs must be (P, n_inputs) and targets (P, n_targets) with the "
                                 f"same P >= 2, got {inputs.shape} and {targets.shape}")
            object.__setattr__(self, "inputs", inputs)
            object.__setattr__(self, "targets", targets)


class KernelRecorder:
    """Runs the :class:`KernelProbe` of one :func:`~bioplausible.run` call (used by the runner)."""

    def __init__(self, probes: Sequence[KernelProbe], circuit: Circuit, tasks: Sequence[Any]) -> None:
        if len(probes) > 1:
            raise ValueError("probes may hold at most one KernelProbe object")
        self.probe = probes[0] if probes else None
        self.circuit = circuit
        self.steps: list[int] = []
        self.rows: dict[str, list[np.ndarray]] = {key: [] for key in _KERNEL_VARIABLES}
        if self.probe is None:
            return
        if not (hasattr(circuit, "forward") and hasattr(circuit, "layer_rates") and hasattr(circuit, "n_layers")):
            raise TypeError(f"KernelProbe needs a layered supervised circuit (backprop, FA, DFA, EBD, Hebb), "
                            f"got {type(circuit).__name__}")
        if self.probe.inputs is not None:
            if self.probe.inputs.shape[1] != tasks[0].n_inputs or self.probe.targets.shape[1] != tasks[0].n_targets:
                raise ValueError(f"KernelProbe: inputs/targets must have {tasks[0].n_inputs} inputs and "
                                 f"{tasks[0].n_targets} targets (the task's), got {self.probe.inputs.shape[1]} "
                                 f"and {self.probe.targets.shape[1]}")
            self.inputs, self.targets = self.probe.inputs, self.probe.targets
        else:
            import copy

            drawn = [copy.deepcopy(task).next_batch(self.probe.samples) for task in tasks]
            if any(b.targets is None for b in drawn):
                raise ValueError("KernelProbe: the task's batches have no targets; pass inputs= and targets=")
            self.inputs = np.stack([b.inputs for b in drawn]).astype(float)
            self.targets = np.stack([b.targets for b in drawn]).astype(float)

    def next_stop(self, step: int, updates: int) -> int:
        """How many of the next ``updates`` updates (from update ``step``) to make before a record."""
        if self.probe is None:
            return updates
        return min(updates, self.probe.every - step % self.probe.every)

    def record(self, step: int, last: bool = False) -> None:
        """Record at ``step`` when it is a multiple of ``every`` (or ``last``, the run's end)."""
        if self.probe is None or (step % self.probe.every and not last) or (self.steps and self.steps[-1] == step):
            return
        from ..analysis.kernels import kernel_summary

        summary = kernel_summary(self.circuit, self.inputs, self.targets, keep_kernel=self.probe.keep_kernels)
        for key, value in summary.items():
            self.rows[key].append(np.asarray(value, dtype=float))
        self.steps.append(step)

    def merge(self, dataset: xr.Dataset) -> xr.Dataset:
        """Add the recorded kernel statistics to the run's dataset."""
        if self.probe is None or not self.steps:
            return dataset
        n_layers = int(cast(Any, self.circuit).n_layers)  # a layered circuit (checked when the probe attached)
        coords = {"kernel_step": np.asarray(self.steps),
                  "kernel_layer": np.arange(1, n_layers + 1),
                  "kernel_hidden_layer": np.arange(1, n_layers)}
        data = {}
        for key, (name, dims, long_name) in _KERNEL_VARIABLES.items():
            if self.rows[key]:
                data[KERNEL_PREFIX + name] = xr.Variable(dims, np.stack(self.rows[key], axis=1),
                                                         attrs={"long_name": long_name, "units": "1"})
        if self.probe.keep_kernels:
            size = data[KERNEL_PREFIX + "entk"].shape[-1]
            coords.update(kernel_sample=np.arange(size), kernel_sample_other=np.arange(size))
        kernels = xr.Dataset(data, coords=coords)
        for name, long_name in (("kernel_step", "learning updates made when the kernels were computed"),
                                ("kernel_layer", "layer k of the effective NTK's term (1..L, L the readout)"),
                                ("kernel_hidden_layer", "hidden layer k of the feature kernel"),
                                ("kernel_sample", "sample of the kernel probe set"),
                                ("kernel_sample_other", "sample of the kernel probe set (second axis)")):
            if name in kernels.coords:
                kernels[name].attrs.update(long_name=long_name, units="updates" if name == "kernel_step" else "1")
        merged = xr.merge([dataset, kernels], combine_attrs="override")
        merged.attrs["kernel_every"] = self.probe.every
        merged.attrs["kernel_probe_samples"] = int(self.inputs.shape[-2])
        return merged
