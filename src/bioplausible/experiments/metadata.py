"""What the numbers in a result mean: long names and units of metrics, activities, learned
arrays and their dimensions, shared by the xarray results (CF-style ``long_name`` /
``units`` attributes) and the NWB export (descriptions and units of each series).

Units follow CF conventions: ``"1"`` for dimensionless quantities (fractions, ratios,
correlations), ``"dB"``, ``"s"``, ``"Hz"``, ``"degree"``; counts of learning updates are
``"updates"`` and model activities (dimensionless rates of the rate form) ``"a.u."``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["metric_info", "state_dims", "annotate", "readable_config", "ACTIVITY_UNITS"]

#: Units of a population's activity ``a`` in the rate form (and decoded from spike counts).
ACTIVITY_UNITS = "a.u."
ACTIVITY_LONG_NAME = ("activity a of the rate form (dimensionless; on spikes decoded from counts, "
                      "a = count / (r0 T) - offset)")

# name -> (long name, units). Metrics of the tasks in bioplausible.tasks.
_METRICS: dict[str, tuple[str, str]] = {
    "whitening_error": ("spectral whitening error, largest |eigenvalue| of C_yy - I for the active context", "1"),
    "whitening_error_frobenius": ("whitening error, mean squared entry of C_yy - I for the active context", "1"),
    "final_whitening_error": ("spectral whitening error at the end of the run", "1"),
    "context": ("index of the active context of the input statistics", "1"),
    "basis_distance": ("distance between learned interneuron synapses and the true basis, "
                       "min over signed permutations of ||V - W Q||_F", "1"),
    "recovery_time": ("mean number of updates after a context switch until the whitening error falls below "
                      "the recovery threshold (recovered contexts only)", "updates"),
    "fraction_recovered": ("fraction of contexts in which the whitening error fell below the recovery threshold",
                           "1"),
    "sinr_db": ("signal-to-interference-plus-noise ratio of the recovered sources", "dB"),
    "sinr_cosine_db": ("SINR with sources matched to outputs by cosine similarity", "dB"),
    "output_sinr_db": ("SINR of the circuit's outputs (nonlinear responses)", "dB"),
    "msnr_db": ("mean per-component signal-to-noise ratio of the recovered sources", "dB"),
    "final_sinr_db": ("SINR at the end of the run", "dB"),
    "steps_to_final_sinr": ("first update from which the SINR stays within 1 dB of its final value", "updates"),
    "amari_index": ("Amari index of separator times mixing matrix (0: perfect separation)", "1"),
    "permutation_error": ("mean squared error per source between sources and outputs after the best permutation "
                          "(Bio-NICA's permutation error, no sign or scale fix)", "1"),
    "transition_success": ("fraction of sequence transitions recalled correctly", "1"),
    "sequence_success": ("whole sequence recalled without error (1) or not (0)", "1"),
    "recall_overlap": ("mean overlap of the recalled state with the expected pattern over a rollout from a "
                       "noisy cue", "1"),
    "final_overlap": ("overlap of the recalled state with the expected pattern at the last rollout step", "1"),
    "recall_success": ("fraction of cues whose whole rollout matches the expected schedule exactly", "1"),
    "order_success": ("fraction of rollouts whose decoded patterns visit the stored order", "1"),
    "duplicate_fraction": ("fraction of duplicate patterns in the stored sequence", "1"),
    "test_accuracy": ("classification accuracy on the held-out test set", "1"),
    "final_test_accuracy": ("test accuracy at the end of the run", "1"),
    "best_test_accuracy": ("best test accuracy over the evaluation points", "1"),
    "test_loss": ("mean squared-error loss on the held-out test set", "1"),
    "train_loss": ("mean squared-error loss on the last training batch", "1"),
    "normalized_mse": ("normalised mean squared error of the output, sum (y - y*)^2 / sum y*^2, on held-out "
                       "trials", "1"),
    "learned_timescale": ("timescale -1/Re(rho) of the slowest recurrent mode rho (the outlier eigenvalue of W "
                          "as a rate)", "s"),
    "timescale_error": ("relative error of the learned timescale against the target's", "1"),
    "learned_frequency": ("frequency |Im(rho)|/(2 pi) of the slowest oscillating recurrent mode", "Hz"),
    "frequency_error": ("relative error of the learned frequency against the target's", "1"),
}
_PATTERNS: list[tuple[str, str, str]] = [
    (r"error_correlation_(.+)", "correlation of population {0}'s activity with the output error", "1"),
    (r"feedback_angle_(.+)", "angle between feedback and forward weights of layer {0}", "degree"),
    (r"update_alignment_(.+)", "cosine between the rule's update and the gradient of layer {0}", "1"),
    (r"kernel_alignment_(.+)", "alignment of layer {0}'s representation kernel with the task kernel", "1"),
    (r"final_(.+)", "{0} at the end of the run", ""),
]


def metric_info(name: str) -> tuple[str, str]:
    """``(long_name, units)`` of a task metric or summary; unknown names get a generic
    description and units ``"1"``."""
    if name in _METRICS:
        return _METRICS[name]
    for pattern, long_name, units in _PATTERNS:
        match = re.fullmatch(pattern, name)
        if match:
            if not units:  # final_<metric>: the metric's own units
                inner, units = metric_info(match.group(1))
                return f"{inner}, at the end of the run", units
            return long_name.format(*match.groups()), units
    return f"task metric {name.replace('_', ' ')}", "1"


# ----------------------------------------------------------------------------- learned arrays
def state_dims(circuit: Any, name: str, shape: tuple[int, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """Dimension names of learned array ``name`` (without the ensemble axis) and a long name
    per dimension. A 2-D array that is (up to sign) a connection's effective weight gets
    ``<name>_post`` / ``<name>_pre`` (postsynaptic / presynaptic unit, naming the
    populations); other arrays ``<name>_row`` / ``<name>_column``, ``<name>_unit`` (1-D) or
    ``<name>_axis<i>``."""
    sizes = {p.name: p.size for p in circuit.populations()}
    if len(shape) == 1:
        owner = [p for p, n in sizes.items() if n == shape[0]]
        where = f" (one per unit of population {owner[0]})" if len(owner) == 1 else ""
        return (f"{name}_unit",), {f"{name}_unit": f"index along learned array {name}{where}"}
    if len(shape) == 2:
        value = np.asarray(circuit.state[name])
        if np.any(value):
            for (source, target), weight in circuit.weights().items():
                weight = np.asarray(weight)
                if weight.shape == value.shape and np.allclose(np.abs(weight), np.abs(value)):
                    return (f"{name}_post", f"{name}_pre"), {
                        f"{name}_post": f"postsynaptic unit (population {target}) of connection {source} -> {target}",
                        f"{name}_pre": f"presynaptic unit (population {source}) of connection {source} -> {target}"}
                if weight.shape[1:] == value.shape[2:0:-1] and np.allclose(np.abs(np.swapaxes(weight, 1, 2)),
                                                                            np.abs(value)):
                    return (f"{name}_pre", f"{name}_post"), {
                        f"{name}_pre": f"presynaptic unit (population {source}) of connection {source} -> {target}",
                        f"{name}_post": f"postsynaptic unit (population {target}) of connection {source} -> {target}"}
        return (f"{name}_row", f"{name}_column"), {f"{name}_row": f"row index of learned array {name}",
                                                   f"{name}_column": f"column index of learned array {name}"}
    dims = tuple(f"{name}_axis{i}" for i in range(len(shape)))
    return dims, {d: f"axis {i} of learned array {name}" for i, d in enumerate(dims)}


# ----------------------------------------------------------------------------- datasets
_COORDS: dict[str, tuple[str, str]] = {
    "seed": ("seed of the ensemble member (one simulated animal per seed)", "1"),
    "step": ("number of learning updates made (evaluation points)", "updates"),
    "trace_time": ("index of the sample in the training stream (time = index x sample_duration_s)", "samples"),
    "trace_update": ("learning update during which the sample was presented", "updates"),
}


def annotate(dataset: xr.Dataset) -> xr.Dataset:
    """Give every variable and coordinate of a run's dataset CF-style ``long_name`` and
    ``units`` attributes (in place; returns the dataset). Names follow the prefixes of
    :class:`~bioplausible.Result`; existing attributes are kept."""
    from .probes import TRACE_INFO_PREFIX, TRACE_PREFIX
    from .results import ACTIVITY_PREFIX, FINAL_STATE_PREFIX, METRIC_PREFIX, STATE_PREFIX, SUMMARY_PREFIX

    roles = {p["name"]: p["role"] for p in json.loads(dataset.attrs.get("populations", "[]"))}
    for name in list(dataset.variables):
        name = str(name)
        variable = dataset[name]
        if name in _COORDS:
            long_name, units = _COORDS[name]
        elif name.startswith(METRIC_PREFIX):
            long_name, units = metric_info(name[len(METRIC_PREFIX):])
        elif name.startswith(SUMMARY_PREFIX):
            long_name, units = metric_info(name[len(SUMMARY_PREFIX):])
            long_name = f"{long_name} (whole run)"
        elif name.startswith(FINAL_STATE_PREFIX):
            long_name, units = f"learned array {name[len(FINAL_STATE_PREFIX):]} at the end of the run", "1"
        elif name.startswith(STATE_PREFIX):
            long_name, units = f"learned array {name[len(STATE_PREFIX):]} at each evaluation point", "1"
        elif name.startswith(ACTIVITY_PREFIX):
            population = name[len(ACTIVITY_PREFIX):]
            long_name = f"{_activity_name(population, roles)} on the last sample of each evaluation"
            units = ACTIVITY_UNITS
        elif name.startswith(TRACE_INFO_PREFIX):
            long_name, units = f"per-sample label {name[len(TRACE_INFO_PREFIX):]} of the task", "1"
        elif name.startswith(TRACE_PREFIX):
            population = name[len(TRACE_PREFIX):]
            long_name, units = f"{_activity_name(population, roles)} on every recorded sample", ACTIVITY_UNITS
        elif name.startswith("spikes_"):
            population, field = _spike_field(name)
            long_name, units = {
                "time": (f"spike time of population {population} from the start of the run", "s"),
                "unit": (f"unit (within population {population}) that emitted the spike", "1"),
                "member": (f"ensemble member (seed index) of the spike of population {population}", "1"),
                "index": (f"index of the spike of population {population}", "1"),
            }[field]
        elif name.endswith("_unit") and name[:-len("_unit")] in roles:
            long_name, units = f"unit index within population {name[:-len('_unit')]} (units the trace recorded)", "1"
        elif name.endswith("_unit_all") and name[:-len("_unit_all")] in roles:
            long_name, units = f"unit index within population {name[:-len('_unit_all')]} (all units)", "1"
        else:
            long_name = variable.attrs.get("long_name", name.replace("_", " "))
            units = variable.attrs.get("units", "1")
        variable.attrs.setdefault("long_name", long_name)
        variable.attrs.setdefault("units", units)
        dataset[name].attrs.update(variable.attrs)
    return dataset


def readable_config(attrs: dict[str, Any]) -> dict[str, Any]:
    """The JSON configurations of a run (``circuit``, ``task``, ``substrate``) flattened into
    netCDF-safe attributes ``<section>.<key>`` (numbers, strings, numeric lists), for tools
    that show attributes but do not parse JSON. The JSON attributes stay the source of truth."""
    out: dict[str, Any] = {}
    for section in ("circuit", "task", "substrate"):
        if section not in attrs:
            continue
        config = json.loads(attrs[section])
        flat = dict(config.get("params", {})) if section == "circuit" else dict(config)
        if section == "circuit":
            flat = {"name": config.get("circuit"), **flat}
        for key, value in flat.items():
            out[f"{section}.{key}"] = _attribute(value)
    return {k: v for k, v in out.items() if v is not None}


def _attribute(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                          for v in value):
        return list(value)
    if value is None:
        return "none"
    return json.dumps(value)


def _activity_name(population: str, roles: dict[str, str]) -> str:
    role = roles.get(population, "")
    if role == "input":
        return f"input of population {population} (the task's stimulus)"
    return f"activity of population {population} ({role or 'population'})"


def _spike_field(name: str) -> tuple[str, str]:
    body = name[len("spikes_"):]
    for field in ("unit", "member", "index"):
        if body.endswith("_" + field):
            return body[: -len(field) - 1], field
    return body, "time"
