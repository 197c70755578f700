"""Neural predictions as data: a :class:`~bioplausible.Result` as NWB (pynwb) or Neo objects.

One exported file is one ensemble member (one simulated animal): ``seed_index`` picks it.
Time: sample ``i`` of the training stream is presented at ``i × T``, with T the spiking
substrate's presentation (``attrs["sample_duration_s"]``). The rate substrate has no time:
its files place sample ``i`` at a *nominal* ``i × 1 s``, and say so (the file's ``notes``
and each series' ``comments``).

NWB layout (``to_nwb``), written to pass ``nwbinspector`` without critical issues or
best-practice violations:

* ``general/subject``: the simulated circuit as the subject (species ``"In silico"``, id
  ``<circuit>-seed-<seed>``, the circuit's parameters in the description);
* ``stimulus/<input population>``: the recorded inputs, ``TimeSeries`` (dimensionless);
  ``stimulus/<label>``: per-sample labels such as the active context;
* ``processing/activity/<population>``: the activity ``a`` of every simulated and readout
  population as the learning rules saw it (rate-form fixed points, or on spikes the
  activity decoded from each presentation's counts, ``a = count / (r0 T) − offset``),
  unit ``"a.u."``;
* ``processing/predicted_rates/<population>``: the same activity as a firing rate in Hz
  under the offset code ``r0 (offset + a)`` (on spikes: the counted rate; on the rate
  substrate: the rate the spiking realisation would fire at with the nominal
  ``r0 = 100 Hz``, rectified at 0 Hz);
* ``processing/weights/<state array>`` and ``processing/weights/weight_<source>_to_<target>``:
  ``DynamicTable`` s with one row per evaluation point (one row, the end of the run, when
  the array was not probed) and columns ``step``, ``time`` (s) and ``value`` (the array);
* ``units``: spike times with ``population`` and ``unit_index`` columns and the simulation
  time step as resolution, when the run recorded spikes (a rate run exports rates only);
* ``processing/metrics/evaluations``: a ``DynamicTable`` with one row per evaluation point,
  columns ``step``, ``time`` (s) and one per task metric (its description gives the units);
* ``processing/summary_statistics/<population>`` (when ``summaries`` are given): the summary
  statistics of :func:`bioplausible.analysis.summary.summary_statistics` of that population,
  one row per window, columns ``start_time`` and ``stop_time`` (s) and one per statistic.

Traces are ``TimeSeries`` with time first; a recording with fewer samples than units (a
short sequence write, say) is still time-first but trips nwbinspector's orientation
heuristic, which assumes time is the longest axis.

Regularly sampled series are written with ``starting_time`` and ``rate``, irregular ones
(subsampled probes) with timestamps. Files are written atomically (temporary file in the
same folder, then renamed).
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

from ..models.neurons import IntegrateAndFire
from .metadata import ACTIVITY_LONG_NAME, ACTIVITY_UNITS, metric_info
from .probes import TRACE_INFO_PREFIX, TRACE_PREFIX
from .results import write_atomically

if TYPE_CHECKING:
    from .results import Result

__all__ = ["to_nwb", "read_nwb", "to_neo", "SPIKES_PREFIX"]

SPIKES_PREFIX = "spikes_"
NOMINAL_RATE_UNIT = IntegrateAndFire.rate_unit  # Hz per unit of activity when the run had no spikes


def to_nwb(result: Result, path: str | os.PathLike[str], seed_index: int = 0, *,
           session_start_time: datetime | None = None, experimenter: str | list[str] | None = None,
           institution: str | None = None, lab: str | None = None, summaries: Any = ()) -> Path:
    """Write one ensemble member of ``result`` as an NWB file (layout: the module docstring).

    ``session_start_time`` (a timezone-aware ``datetime``) defaults to the time the run
    started (``attrs["started_at"]``; the export time for results saved before it was
    recorded). ``experimenter``, ``institution`` and ``lab`` fill the NWB fields of the same
    names when given. ``summaries``: datasets from
    :func:`bioplausible.analysis.summary.summary_statistics` of this result, written beside the
    activity (one table per population)."""
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject
    from pynwb.misc import Units

    _check_seed_index(result, seed_index)
    summaries = _check_summaries(result, summaries)
    start = _session_start(result, session_start_time)
    attrs = result.dataset.attrs
    circuit = json.loads(attrs["circuit"])
    task = json.loads(attrs["task"])
    substrate = json.loads(attrs["substrate"])
    seed = result.seeds[seed_index]
    period = float(attrs.get("sample_duration_s", 1.0))
    timed = attrs["substrate_name"] != "rate"
    timebase = (f"sample i of the training stream is presented at i x {period:g} s (the spiking substrate's "
                f"presentation time)" if timed else
                "the rate substrate has no physical time: sample i of the training stream is placed at a nominal "
                "i x 1 s; times in this file are sample indices in seconds")
    name, family = circuit["circuit"], circuit.get("family", "")
    description = (f"Simulated {family} circuit {name} trained with its local learning rules on the {task['task']} "
                   f"task ({attrs['substrate_name']} substrate), ensemble member with seed {seed}.")
    nwb = NWBFile(
        session_description=description,
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bioplausible:{attrs['circuit']}:{attrs['task']}:"
                                                     f"{attrs['substrate']}:{seed}:{attrs['final_steps']}")),
        session_start_time=start,
        experiment_description=(f"Prediction of neural activity by the {name} model of bioplausible "
                                f"{attrs.get('bioplausible_version', '')}: {int(attrs['final_steps'])} learning "
                                f"updates "
                                f"of batch size {int(attrs.get('batch_size', 1))}. Configuration (JSON): "
                                + json.dumps({"circuit": circuit, "task": task, "substrate": substrate, "seed": seed})),
        notes=f"Time base: {timebase}.",
        keywords=["computational model", "in silico", "biologically plausible learning", "local learning rules",
                  family or "circuit", name, task["task"], f"{attrs['substrate_name']} substrate"],
        source_script="bioplausible", source_script_file_name="bioplausible",
        experimenter=experimenter, institution=institution, lab=lab,
    )
    params = ", ".join(f"{k}={v}" for k, v in circuit.get("params", {}).items())
    nwb.subject = Subject(
        subject_id=f"{name}-seed-{seed}", species="In silico", sex="U", age="P0D", age__reference="birth",
        description=f"A simulated neural circuit, not an animal: bioplausible circuit {name} ({family} family) with "
                    f"parameters {params or 'defaults'}, initialised from seed {seed} at the start of the session.",
    )
    comments = f"Time base: {timebase}."
    roles = _roles(result)
    offsets = _offsets(result)
    rate_unit = float(substrate.get("rate_unit", NOMINAL_RATE_UNIT))
    code = IntegrateAndFire(rate_unit, period)
    for population, trace in _traces(result, seed_index):
        timing = _timing(trace["trace_time"].values * period)
        units = trace[trace.dims[-1]].values.tolist()
        if roles.get(population) == "input":
            nwb.add_stimulus(TimeSeries(name=population, data=trace.values, unit=ACTIVITY_UNITS, comments=comments,
                                        description=f"input population {population} (the task's stimulus, "
                                                    f"dimensionless), units {units}", **timing))
            continue
        role = roles.get(population, "population")
        _module(nwb, "activity", "activity a of each population as the learning rules saw it").add(
            TimeSeries(name=population, data=trace.values, unit=ACTIVITY_UNITS, comments=comments,
                       description=f"{role} population {population}, units {units}: {ACTIVITY_LONG_NAME}", **timing))
        rates = np.maximum(code.encode(trace.values, offsets.get(population, 0.0)), 0.0)
        how = (f"counted firing rate per presentation, r0 (offset + a) with r0 = {rate_unit:g} Hz" if timed else
               f"rate the spiking realisation fires at under the offset code r0 (offset + a), nominal r0 = "
               f"{rate_unit:g} Hz, rectified at 0 Hz")
        _module(nwb, "predicted_rates", "predicted firing rate of each population in Hz").add(
            TimeSeries(name=population, data=rates, unit="Hz", comments=comments,
                       description=f"{role} population {population}, units {units}: {how} "
                                   f"(offset {offsets.get(population, 0.0):g})", **timing))
    for name_ in result.dataset.data_vars:
        if str(name_).startswith(TRACE_INFO_PREFIX):
            label = str(name_)[len(TRACE_INFO_PREFIX):]
            values = result.dataset[name_].isel(seed=seed_index)
            nwb.add_stimulus(TimeSeries(name=label, data=values.values, unit="n/a", comments=comments,
                                        description=f"per-sample label {label!r} of the {task['task']} task",
                                        **_timing(values["trace_time"].values * period)))
    for array, (steps, times, data, what) in _weights(result, seed_index, period).items():
        table = DynamicTable(name=array, description=what, columns=[
            VectorData(name="step", description="learning updates made", data=steps),
            VectorData(name="time", description="time of the evaluation point in s (see the time base in notes)",
                       data=times),
            VectorData(name="value", description=f"value of {array} at the evaluation point", data=data)])
        _module(nwb, "weights", "learned arrays and effective connection weights over evaluation points").add(table)
    steps = result.dataset["step"].values
    columns = [VectorData(name="step", description="learning updates made", data=steps),
               VectorData(name="time", description="time of the evaluation point in s (see the time base in notes)",
                          data=steps * int(attrs.get("batch_size", 1)) * period)]
    for metric, values in result.metrics.items():
        long_name, units = metric_info(str(metric))
        columns.append(VectorData(name=str(metric), description=f"{long_name} (units: {units})",
                                  data=values.isel(seed=seed_index).values))
    _module(nwb, "metrics", f"metrics of the {task['task']} task").add(DynamicTable(
        name="evaluations", description=f"the {task['task']} task's metrics at each evaluation point, one row per "
                                        f"point", columns=columns))
    for stats in summaries:
        member = stats.sel(seed=result.seeds[seed_index])
        columns = [VectorData(name=f"{edge}_time", description=f"time of the window's {what} recorded sample in s "
                                                             "(see the time base in notes)",
                              data=member[f"window_{edge}"].values * period)
                   for edge, what in (("start", "first"), ("stop", "last"))]
        for name in member.data_vars:
            variable = member[name]
            columns.append(VectorData(name=str(name), data=variable.values, description=(
                f"{variable.attrs.get('long_name', name)} (units: {variable.attrs.get('units', '1')})")))
        population = stats.attrs["population"]
        _module(nwb, "summary_statistics", "summary statistics of the recorded populations across learning, in "
                                           "windows of the training stream").add(DynamicTable(
            name=population, description=f"summary statistics of population {population} per window of the "
                                         f"training stream (decoder, kernel-task alignment, drift), one row per "
                                         f"window", columns=columns))
    spikes = list(_spikes(result, seed_index))
    if spikes:
        nwb.units = Units(name="units", resolution=float(substrate.get("dt", period)),
                          description=f"spike times of the simulated units ({attrs['substrate_name']} substrate); "
                                      f"resolution: the simulation time step")
        nwb.add_unit_column(name="population", description="population the unit belongs to")
        nwb.add_unit_column(name="unit_index", description="index of the unit in its population")
        for population, unit, times in spikes:
            nwb.add_unit(spike_times=times, population=population, unit_index=unit)
    return write_atomically(path, lambda temporary: _write_nwb(NWBHDF5IO, nwb, temporary))


def read_nwb(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a file written by :func:`to_nwb` back into plain arrays (for checks and tests):
    ``stimulus``, ``times`` (of each stimulus series), ``activity``, ``predicted_rates``,
    ``weights`` (the ``value`` column of each table), ``metrics`` (the columns of the
    evaluations table: ``step``, ``time`` and each metric), ``summary_statistics`` (per
    population, the columns of its table), ``units`` (a DataFrame),
    ``description`` and ``subject``."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        out: dict[str, Any] = {
            "stimulus": {k: np.asarray(v.data[:]) for k, v in nwb.stimulus.items()},
            "times": {k: np.asarray(v.get_timestamps()) for k, v in nwb.stimulus.items()},
        }
        for module in ("activity", "predicted_rates"):
            if module in nwb.processing:
                out[module] = {k: np.asarray(v.data[:]) for k, v in nwb.processing[module].data_interfaces.items()}
        if "metrics" in nwb.processing:
            table = nwb.processing["metrics"]["evaluations"]
            out["metrics"] = {name: np.asarray(table[name].data[:]) for name in table.colnames}
        if "summary_statistics" in nwb.processing:
            out["summary_statistics"] = {
                name: {column: np.asarray(table[column].data[:]) for column in table.colnames}
                for name, table in nwb.processing["summary_statistics"].data_interfaces.items()}
        if "weights" in nwb.processing:
            out["weights"] = {k: np.asarray(v["value"].data[:])
                              for k, v in nwb.processing["weights"].data_interfaces.items()}
        if nwb.units is not None:
            out["units"] = nwb.units.to_dataframe()
            out["units_resolution"] = nwb.units.resolution
        out["description"] = nwb.session_description
        out["subject"] = {"subject_id": nwb.subject.subject_id, "species": nwb.subject.species,
                          "description": nwb.subject.description} if nwb.subject is not None else None
        out["session_start_time"] = nwb.session_start_time
        out["notes"] = nwb.notes
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
def _check_summaries(result: Result, summaries: Any) -> list[Any]:
    """``summaries`` as a list of summary-statistics datasets of ``result``'s seeds, one per population."""
    import xarray as xr

    if isinstance(summaries, xr.Dataset):
        summaries = [summaries]
    summaries = list(summaries)
    populations = []
    for index, stats in enumerate(summaries):
        if not isinstance(stats, xr.Dataset) or "population" not in stats.attrs or "window_start" not in stats:
            raise TypeError(f"summaries[{index}] must be a Dataset from analysis.summary.summary_statistics, "
                            f"got {type(stats).__name__}")
        if not set(result.seeds) <= set(stats["seed"].values.tolist()):
            raise ValueError(f"summaries[{index}] lacks seeds of the result: {result.seeds} vs "
                             f"{stats['seed'].values.tolist()}")
        populations.append(stats.attrs["population"])
    if len(set(populations)) != len(populations):
        raise ValueError(f"summaries must hold one dataset per population, got {populations}")
    return summaries


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


def _weights(result: Result, seed_index: int, period: float
             ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, str]]:
    """Learned arrays and connection weights: name -> (steps, times in s, values, description)."""
    attrs = result.dataset.attrs
    batch = int(attrs.get("batch_size", 1))
    final = np.array([int(attrs["final_steps"])])
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, str]] = {}
    for name in result.dataset.data_vars:
        name = str(name)
        if name.startswith("final_state_"):
            array = name[len("final_state_"):]
            probed = result.dataset.get("state_" + array)
            dims = ", ".join(str(d) for d in result.dataset[name].dims[1:])
            if probed is not None:
                steps = result.dataset["step"].values
                out[array] = (steps, steps * batch * period, probed.isel(seed=seed_index).values,
                              f"learned array {array} ({dims}) at each evaluation point")
            else:
                out[array] = (final, final * batch * period, result.dataset[name].isel(seed=seed_index).values[None],
                              f"learned array {array} ({dims}) at the end of the run")
    circuit = result.circuit(seed_index)
    if circuit is not None:
        for (source, target), weight in circuit.weights().items():
            out[f"weight_{source}_to_{target}"] = (
                final, final * batch * period, np.asarray(weight[0])[None],
                f"effective weight of connection {source} -> {target} at the end of the run "
                f"(postsynaptic unit of {target} x presynaptic unit of {source}; sign included)")
    return out


def _timing(times: np.ndarray) -> dict[str, Any]:
    """``starting_time`` and ``rate`` for regular times, ``timestamps`` otherwise."""
    times = np.asarray(times, dtype=float)
    steps = np.diff(times)
    if times.size > 1 and steps[0] > 0 and np.allclose(steps, steps[0], rtol=1e-9, atol=0.0):
        return {"starting_time": float(times[0]), "rate": float(1.0 / steps[0])}
    return {"timestamps": times}


def _session_start(result: Result, start: datetime | None) -> datetime:
    if start is None:
        recorded = result.dataset.attrs.get("started_at")
        return datetime.fromisoformat(str(recorded)) if recorded else datetime.now(timezone.utc)
    if not isinstance(start, datetime):
        raise TypeError(f"session_start_time must be a timezone-aware datetime, got {start!r}")
    if start.tzinfo is None:
        raise ValueError(f"session_start_time must be timezone-aware (e.g. tzinfo=timezone.utc), got {start!r}")
    return start


def _offsets(result: Result) -> dict[str, float]:
    return {p["name"]: float(p.get("offset", 0.0)) for p in json.loads(result.dataset.attrs.get("populations", "[]"))}


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
