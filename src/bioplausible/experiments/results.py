"""Results: an ``xarray.Dataset`` with metrics over steps, probes, the final state and the
full configuration in ``attrs``; saved atomically as netCDF."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

METRIC_PREFIX = "metric_"
SUMMARY_PREFIX = "summary_"
ACTIVITY_PREFIX = "activity_"
STATE_PREFIX = "state_"
FINAL_STATE_PREFIX = "final_state_"


class Result:
    """The outcome of :func:`bioplausible.run`.

    ``dataset`` variables: ``metric_<name>`` (seed, step), ``summary_<name>`` (seed),
    ``activity_<population>`` (seed, step, unit), ``state_<name>`` (seed, step, ...),
    ``final_state_<name>`` (seed, ...). ``attrs`` hold the circuit, task and substrate
    configurations (JSON), the seeds, the package version and the wall time.
    """

    def __init__(self, dataset: xr.Dataset) -> None:
        self.dataset = dataset

    # ------------------------------------------------------------------ views
    @property
    def metrics(self) -> xr.Dataset:
        """Metrics over steps, one variable per metric name, dims (seed, step)."""
        return _strip(self.dataset, METRIC_PREFIX)

    @property
    def summary(self) -> xr.Dataset:
        """Whole-run metrics (recovery time, capacity, ...), dims (seed,)."""
        return _strip(self.dataset, SUMMARY_PREFIX)

    @property
    def activity(self) -> xr.Dataset:
        """Probed activity, dims (seed, step, unit)."""
        return _strip(self.dataset, ACTIVITY_PREFIX)

    @property
    def config(self) -> dict[str, Any]:
        return {key: json.loads(self.dataset.attrs[key]) for key in ("circuit", "task", "substrate")}

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.dataset["seed"].values]

    def final(self) -> dict[str, float]:
        """Last value of each metric and each summary, averaged over seeds."""
        values = {str(name): float(da.isel(step=-1).mean()) for name, da in self.metrics.items()}
        values.update({str(name): float(da.mean()) for name, da in self.summary.items()})
        return values

    def final_state(self, seed_index: int = 0) -> dict[str, Any]:
        """A ``state_dict`` of the learned circuit for one ensemble member (to resume)."""
        state = {
            str(name)[len(FINAL_STATE_PREFIX):]: np.asarray(da.isel(seed=seed_index).values)
            for name, da in self.dataset.items() if str(name).startswith(FINAL_STATE_PREFIX)
        }
        circuit = json.loads(self.dataset.attrs["circuit"])
        steps = int(self.dataset.attrs["final_steps"])
        return {"circuit": circuit["circuit"], "params": circuit["params"],
                "state": {k: v[None] for k, v in state.items()}, "steps": steps,
                "extra": json.loads(self.dataset.attrs.get("final_extra_state", "{}"))}

    def to_dataframe(self) -> pd.DataFrame:
        """Tidy table: one row per seed × step × metric; whole-run summaries have step NaN."""
        frame = self.metrics.to_dataframe().reset_index().melt(
            id_vars=["seed", "step"], var_name="metric", value_name="value"
        )
        frame["step"] = frame["step"].astype(float)
        if self.summary.data_vars:
            summary = self.summary.to_dataframe().reset_index().melt(
                id_vars=["seed"], var_name="metric", value_name="value"
            )
            summary["step"] = np.nan
            frame = pd.concat([frame, summary[["seed", "step", "metric", "value"]]], ignore_index=True)
        return frame

    @property
    def traces(self) -> xr.Dataset:
        """Activity recorded by a :class:`~bioplausible.experiments.probes.Probe`, one variable
        per population, dims (seed, trace_time, unit); labels as ``info_<name>``."""
        return _strip(self.dataset, "trace_")

    def circuit(self, seed_index: int = 0) -> Any:
        """The learned circuit of one ensemble member (rebuilt from the config and final
        state), or None when the circuit is not registered in this installation."""
        from ..circuits.base import CIRCUITS

        state = self.final_state(seed_index)
        cls = CIRCUITS.get(state["circuit"])
        if cls is None:
            return None
        try:
            circuit = cls(**state["params"])
        except (TypeError, ValueError):
            return None
        return circuit.load_state_dict(state)

    # ------------------------------------------------------------------ export
    def to_nwb(self, path: str | os.PathLike[str], seed_index: int = 0, **options: Any) -> Path:
        """Write one ensemble member as NWB; ``options``: ``session_start_time``,
        ``experimenter``, ``institution``, ``lab`` (see :func:`bioplausible.experiments.export.to_nwb`)."""
        from .export import to_nwb

        return to_nwb(self, path, seed_index, **options)

    def to_neo(self, seed_index: int = 0) -> Any:
        """One ensemble member as a ``neo.Block`` (see :mod:`bioplausible.experiments.export`)."""
        from .export import to_neo

        return to_neo(self, seed_index)

    # ------------------------------------------------------------------ io
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write netCDF atomically (temporary file in the same folder, then rename)."""
        return write_atomically(path, lambda temporary: self.dataset.to_netcdf(temporary, engine="h5netcdf"))

    def __repr__(self) -> str:
        attrs = self.dataset.attrs
        circuit = json.loads(attrs["circuit"])["circuit"]
        task = json.loads(attrs["task"])["task"]
        finals = ", ".join(f"{k}={v:.4g}" for k, v in self.final().items())
        return f"Result({circuit} on {task}, substrate={attrs['substrate_name']}, seeds={self.seeds}: {finals})"


def write_atomically(path: str | os.PathLike[str], write: Callable[[str], Any]) -> Path:
    """Call ``write(temporary)`` on a temporary file beside ``path`` (same suffix), then rename
    it onto ``path``: readers see the old file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_result(path: str | os.PathLike[str]) -> Result:
    """Read a result written by :meth:`Result.save`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no result file at {path}")
    with xr.open_dataset(path, engine="h5netcdf") as dataset:
        return Result(dataset.load())


def _strip(dataset: xr.Dataset, prefix: str) -> xr.Dataset:
    names = {name: str(name)[len(prefix):] for name in dataset.data_vars if str(name).startswith(prefix)}
    return dataset[list(names)].rename(names)
