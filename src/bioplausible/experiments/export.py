"""Neural predictions as data: a :class:`~bioplausible.Result` as NWB (pynwb) or Neo objects.

One exported file is one ensemble member (one simulated animal): ``seed_index`` picks it.
Time: sample ``i`` of the training stream is presented at ``i × T``, with T the spiking
substrate's presentation (``attrs["sample_duration_s"]``; a nominal 1 s per sample for the
rate substrate, which has no time).

NWB layout (``to_nwb``):

* ``stimulus/<input population>``: the recorded inputs, ``TimeSeries`` (time, unit);
  ``stimulus/<label>``: per-sample labels such as the active context;
* ``processing/predicted_rates/<population>``: the recorded activity of every simulated and
  readout population, ``TimeSeries`` (rate units of the circuit; decoded spike counts on the
  spiking substrate);
* ``processing/weights/<state array>``: learned arrays over evaluation steps (when probed
  as state) or their final value, and ``processing/weights/weight_<source>_to_<target>``:
  each connection's final effective weight (target × source);
* ``units``: spike times with a ``population`` column, when the run recorded spikes
  (``spikes_<population>`` variables); a rate run exports rates only;
* ``processing/metrics/<metric>``: the task metrics at evaluation steps.

Files are written atomically (temporary file in the same folder, then renamed).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .probes import TRACE_INFO_PREFIX, TRACE_PREFIX
from .results import write_atomically

if TYPE_CHECKING:
    from .results import Result

__all__ = ["to_nwb", "read_nwb", "to_neo", "SPIKES_PREFIX"]

SPIKES_PREFIX = "spikes_"


def to_nwb(result: Result, path: str | os.PathLike[str], seed_index: int = 0) -> Path:
    """Write one ensemble member of ``result`` as an NWB file (see the module docstring)."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    _check_seed_index(result, seed_index)
    attrs = result.dataset.attrs
    circuit = json.loads(attrs["circuit"])
    task = json.loads(attrs["task"])
    seed = result.seeds[seed_index]
    nwb = NWBFile(
        session_description=f"bioplausible prediction: {circuit['circuit']} on {task['task']} "
        f"({attrs['substrate_name']} substrate), seed {seed}",
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bioplausible:{attrs['circuit']}:{attrs['task']}:"
                                                     f"{attrs['substrate']}:{seed}:{attrs['final_steps']}")),
        session_start_time=datetime(2000, 1, 1, tzinfo=timezone.utc),
        experiment_description=json.dumps({"circuit": circuit, "task": task,
                                           "substrate": json.loads(attrs["substrate"]), "seed": seed}),
        source_script="bioplausible", source_script_file_name="bioplausible",
    )
    period = float(attrs.get("sample_duration_s", 1.0))
    roles = _roles(result)
    for population, trace in _traces(result, seed_index):
        times = trace["trace_time"].values * period
        series = TimeSeries(name=population, data=trace.values, timestamps=times, unit="a.u.",
                            description=f"{roles.get(population, '?')} population {population}, units "
                                        f"{trace[trace.dims[-1]].values.tolist()}")
        if roles.get(population) == "input":
            nwb.add_stimulus(series)
        else:
            _module(nwb, "predicted_rates", "activity of each population (rate units)").add(series)
    for name in result.dataset.data_vars:
        if str(name).startswith(TRACE_INFO_PREFIX):
            labels = result.dataset[name].isel(seed=seed_index)
            nwb.add_stimulus(TimeSeries(name=str(name)[len(TRACE_INFO_PREFIX):], data=labels.values,
                                        timestamps=labels["trace_time"].values * period, unit="label"))
    for name, data, times in _weights(result, seed_index, period):
        _module(nwb, "weights", "learned arrays and effective connection weights").add(
            TimeSeries(name=name, data=data, timestamps=times, unit="a.u."))
    steps = result.dataset["step"].values
    step_times = steps * int(attrs.get("batch_size", 1)) * period
    for name, values in result.metrics.items():
        _module(nwb, "metrics", "task metrics at evaluation steps").add(
            TimeSeries(name=str(name), data=values.isel(seed=seed_index).values, timestamps=step_times,
                       unit="a.u."))
    spikes = list(_spikes(result, seed_index))
    if spikes:
        nwb.add_unit_column(name="population", description="population the unit belongs to")
        nwb.add_unit_column(name="unit_index", description="index of the unit in its population")
        for population, unit, times in spikes:
            nwb.add_unit(spike_times=times, population=population, unit_index=unit)
    return write_atomically(path, lambda temporary: _write_nwb(NWBHDF5IO, nwb, temporary))


def read_nwb(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a file written by :func:`to_nwb` back into plain arrays (for checks and tests)."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        out: dict[str, Any] = {
            "stimulus": {k: np.asarray(v.data[:]) for k, v in nwb.stimulus.items()},
            "times": {k: np.asarray(v.timestamps[:]) for k, v in nwb.stimulus.items()},
        }
        for module in ("predicted_rates", "weights", "metrics"):
            if module in nwb.processing:
                out[module] = {k: np.asarray(v.data[:]) for k, v in nwb.processing[module].data_interfaces.items()}
        if nwb.units is not None:
            frame = nwb.units.to_dataframe()
            out["units"] = frame
        out["description"] = nwb.session_description
    return out


def to_neo(result: Result, seed_index: int = 0) -> Any:
    """One ensemble member as a ``neo.Block``: one ``Segment`` holding an ``AnalogSignal`` per
    recorded population (``IrregularlySampledSignal`` when the probe subsampled unevenly)
    and a ``SpikeTrain`` per unit when spikes were recorded."""
    import neo
    import quantities as pq

    _check_seed_index(result, seed_index)
    attrs = result.dataset.attrs
    period = float(attrs.get("sample_duration_s", 1.0))
    block = neo.Block(name=f"{json.loads(attrs['circuit'])['circuit']} seed {result.seeds[seed_index]}",
                      description=attrs["circuit"])
    segment = neo.Segment(name="training run")
    block.segments.append(segment)
    roles = _roles(result)
    for population, trace in _traces(result, seed_index):
        times = trace["trace_time"].values * period
        annotations = {"population": population, "role": roles.get(population, "?")}
        steps = np.diff(times)
        if times.size > 1 and np.allclose(steps, steps[0]):
            signal = neo.AnalogSignal(trace.values, units=pq.dimensionless, t_start=times[0] * pq.s,
                                      sampling_period=steps[0] * pq.s, name=population, **annotations)
            segment.analogsignals.append(signal)
        else:
            signal = neo.IrregularlySampledSignal(times * pq.s, trace.values, units=pq.dimensionless,
                                                  time_units=pq.s, name=population, **annotations)
            segment.irregularlysampledsignals.append(signal)
    end = (int(attrs["final_steps"]) * int(attrs.get("batch_size", 1)) + 1) * period
    for population, unit, times in _spikes(result, seed_index):
        segment.spiketrains.append(neo.SpikeTrain(times * pq.s, t_stop=end * pq.s, name=f"{population}[{unit}]",
                                                  population=population, unit_index=unit))
    return block


# ----------------------------------------------------------------------------- helpers
def _traces(result: Result, seed_index: int) -> Iterator[tuple[str, Any]]:
    for name in result.dataset.data_vars:
        name = str(name)
        if name.startswith(TRACE_PREFIX) and not name.startswith(TRACE_INFO_PREFIX):
            trace = result.dataset[name].isel(seed=seed_index)
            if np.isfinite(trace.values).any():
                yield name[len(TRACE_PREFIX):], trace


def _spikes(result: Result, seed_index: int) -> Iterator[tuple[str, int, np.ndarray]]:
    """(population, unit, spike times in s) from ``spikes_<population>`` variables: a ragged
    table stored as flat arrays ``spikes_<p>`` (times) with ``spikes_<p>_unit`` and
    ``spikes_<p>_seed`` indices along dimension ``spikes_<p>_index``."""
    for name in result.dataset.data_vars:
        name = str(name)
        if not name.startswith(SPIKES_PREFIX) or name.endswith(("_unit", "_member")):
            continue
        population = name[len(SPIKES_PREFIX):]
        times = np.asarray(result.dataset[name].values, dtype=float)
        units = np.asarray(result.dataset[name + "_unit"].values)
        members = np.asarray(result.dataset[name + "_member"].values)
        keep = members == seed_index
        size = next((p["size"] for p in json.loads(result.dataset.attrs.get("populations", "[]"))
                     if p["name"] == population), int(units.max(initial=-1)) + 1)
        for unit in range(size):
            yield population, unit, np.sort(times[keep & (units == unit)])


def _weights(result: Result, seed_index: int, period: float) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    attrs = result.dataset.attrs
    batch = int(attrs.get("batch_size", 1))
    end = np.array([int(attrs["final_steps"]) * batch * period])
    for name in result.dataset.data_vars:
        name = str(name)
        if name.startswith("final_state_"):
            array = name[len("final_state_"):]
            probed = result.dataset.get("state_" + array)
            if probed is not None:
                yield array, probed.isel(seed=seed_index).values, result.dataset["step"].values * batch * period
            else:
                yield array, result.dataset[name].isel(seed=seed_index).values[None], end
    circuit = result.circuit(seed_index)
    if circuit is not None:
        for (source, target), weight in circuit.weights().items():
            yield f"weight_{source}_to_{target}", np.asarray(weight[0])[None], end


def _roles(result: Result) -> dict[str, str]:
    return {p["name"]: p["role"] for p in json.loads(result.dataset.attrs.get("populations", "[]"))}


def _module(nwb: Any, name: str, description: str) -> Any:
    if name not in nwb.processing:
        nwb.create_processing_module(name=name, description=description)
    return nwb.processing[name]


def _write_nwb(io_class: Any, nwb: Any, path: str) -> None:
    with io_class(path, "w") as io:
        io.write(nwb)


def _check_seed_index(result: Result, seed_index: int) -> None:
    if isinstance(seed_index, bool) or not isinstance(seed_index, (int, np.integer)):
        raise TypeError(f"seed_index must be an integer, got {seed_index!r}")
    if not 0 <= seed_index < len(result.seeds):
        raise ValueError(f"seed_index must be in [0, {len(result.seeds)}), got {seed_index}")
