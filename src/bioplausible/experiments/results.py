"""Results: an ``xarray.Dataset`` with metrics over steps, probes, the final state and the
full configuration in ``attrs``; saved atomically as netCDF."""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..validation import check_output_file

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
        """Write netCDF atomically (temporary file in the same folder, then rename). Traces a
        probe spilled to disk are streamed from the spill file chunk by chunk, never loaded
        whole."""
        check_output_file("path", path)
        dataset = self.dataset
        spill = dataset.attrs.get("trace_spill")
        if spill and Path(spill).exists():
            traced = [name for name in dataset.variables if "trace_time" in dataset[name].dims]
            chunk = int(dataset.attrs.get("trace_chunk", 4096))
            with xr.open_dataset(spill, engine="h5netcdf", chunks={"trace_time": chunk}) as streamed:
                streamed = streamed.set_coords("trace_update").drop_vars("seed").assign_coords(
                    seed=dataset["seed"].values)
                dataset = dataset.drop_vars(traced).merge(streamed, combine_attrs="override")
                return write_atomically(path, lambda temporary: dataset.to_netcdf(temporary, engine="h5netcdf"))
        return write_atomically(path, lambda temporary: dataset.to_netcdf(temporary, engine="h5netcdf"))

    def __repr__(self) -> str:
        attrs = self.dataset.attrs
        circuit = json.loads(attrs["circuit"])["circuit"]
        task = json.loads(attrs["task"])["task"]
        finals = ", ".join(f"{k}={v:.4g}" for k, v in self.final().items())
        return f"Result({circuit} on {task}, substrate={attrs['substrate_name']}, seeds={self.seeds}: {finals})"


def write_atomically(path: str | os.PathLike[str], write: Callable[[str], Any]) -> Path:
    """Call ``write(temporary)`` on a temporary file beside ``path`` (same suffix), then rename
    it onto ``path``: readers see the old file or the new one, never a partial one.

    The file gets the permissions of any new file under the user's umask (``0666 & ~umask``,
    e.g. group-readable on a shared cluster), not the temporary file's private 0600.
    Temporary files of ``path`` that a killed writer left are removed first
    (:func:`remove_stale_temporaries`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{TEMPORARY_SUFFIX}{path.suffix}",
                                         dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~user_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


TEMPORARY_SUFFIX = ".tmp"


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files :func:`write_atomically` leaves beside ``path`` when its
    process is killed mid-write (``.<stem>.<random>.tmp<suffix>``); returns what it removed.
    Called before each write of ``path`` and by ``bioplausible run --out`` at start: two
    processes must not write the same file at once."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = list(path.parent.glob(f".{glob.escape(path.stem)}.*{TEMPORARY_SUFFIX}{glob.escape(path.suffix)}"))
    for temporary in stale:
        temporary.unlink(missing_ok=True)
    return stale


def user_umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Attributes every result written by :func:`bioplausible.run` holds.
REQUIRED_ATTRS = ("circuit", "task", "substrate", "substrate_name", "seeds", "final_steps")


def load_result(path: str | os.PathLike[str]) -> Result:
    """Read a result written by :meth:`Result.save`; any other file is a ``ValueError``
    saying what it is not (not netCDF4/HDF5, truncated, or not written by this package)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no result file at {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as dataset:
            loaded = dataset.load()
    except (OSError, ValueError, KeyError, TypeError) as error:
        detail = " ".join(str(error).split())
        raise ValueError(f"{path} is not a readable netCDF4/HDF5 result file ({detail})") from None
    missing = [key for key in REQUIRED_ATTRS if key not in loaded.attrs]
    if missing or "seed" not in loaded.coords:
        raise ValueError(f"{path} is netCDF but not a bioplausible result (missing {missing or ['seed']}); "
                         "results are written by bioplausible.run(...).save() or bioplausible run --out")
    try:
        for key in ("circuit", "task", "substrate", "seeds"):
            json.loads(loaded.attrs[key])
    except (TypeError, ValueError):
        raise ValueError(f"{path}: attribute {key!r} is not the JSON a bioplausible result holds") from None
    return Result(loaded)


def _strip(dataset: xr.Dataset, prefix: str) -> xr.Dataset:
    names = {name: str(name)[len(prefix):] for name in dataset.data_vars if str(name).startswith(prefix)}
    return dataset[list(names)].rename(names)
