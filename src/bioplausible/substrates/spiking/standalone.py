"""cpp_standalone builds of compiled learning runs (issue 17): one build per architecture,
kept on disk (:func:`standalone_cache_dir`, keyed by
:meth:`~bioplausible.substrates.spiking.compiled.CompiledLearning.key`)
and re-run with ``device.run(run_args=...)``, or, from a later process, by running the binary
found on disk with the run's values on its command line (no code generated).

A cold build is Brian2's ``make`` with three of its own mechanisms (Brian2's files untouched):
the device's ``extra_compile_args`` ``-include`` the precompiled standard headers of
:mod:`.precompiled` (built in the background while Brian2 generates the code); a second makefile
given in ``prefs.devices.cpp_standalone.extra_make_args_unix`` compiles the run-once
``objects.cpp`` at ``-O1`` (:data:`RUN_ONCE_FLAGS`); ``make -j`` one job per core. Measured
for direct whitening (n = 5, 21 units, 2 cores, quiet): ``make`` 7.5 s before, 3.5 s with the
headers, 2.7 s with ``objects.cpp`` at ``-O1`` (it was the longest unit, 2.5 s at ``-O3``, 1.8 s
with the headers, 0.8 s at ``-O1``); the learned matrix is bitwise the same, the binary's run
time unchanged. A whole first ``learning_run`` (2,000 presentations, one process, interleaved,
another job holding about one core, load 2.4-2.8): 13.8 s before, 6.9 s with the headers
cached, 7.7 s fully cold (the headers built too); compiler and binary CPU 14.2 s -> 6.9 s."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .precompiled import PrecompiledHeader

__all__ = ["StandaloneRuns", "standalone_cache_dir", "Named", "AnyNamed", "Values", "STANDALONE"]


def standalone_cache_dir() -> Path:
    """Where cpp_standalone builds are kept: ``$BIOPLAUSIBLE_CACHE_DIR`` or
    ``$XDG_CACHE_HOME/bioplausible`` (``~/.cache/bioplausible``), subfolder ``brian2_standalone``."""
    root = os.environ.get("BIOPLAUSIBLE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "bioplausible")
    return Path(root) / "brian2_standalone"


class StandaloneRuns:
    """The cpp_standalone runs of a compiled learning run; the class that mixes it in gives
    ``key``, ``build``, ``_run_args``, ``_labels``, ``_all_outputs``, ``_read`` and ``_all_assemble``."""

    # what the run needs from the class that mixes this in (CompiledLearning)
    key: Callable[[], str]
    build: Callable[[Any], dict[str, Any]]
    _run_args: Callable[[dict[str, Any], dict[str, np.ndarray]], dict[Any, Any]]
    _labels: Callable[[], dict[str, Any]]
    _all_outputs: Callable[[dict[str, Any]], dict[str, tuple[Any, int]]]
    _read: Callable[[dict[str, Any]], Any]
    _all_assemble: Callable[[dict[str, np.ndarray]], Any]

    def _run_standalone(self, values: dict[str, np.ndarray]) -> Any:
        """One run of this architecture's binary with ``values``. Processes share the build
        folder, so a build holds a lock on it (a second process waits, then runs what the first
        built) and every run writes its results into a folder of its own: two runs of one
        architecture at once (a comparison's workers, a sweep's) never read each other's."""
        from brian2.utils.filelock import FileLock

        key = self.key()
        directory = standalone_cache_dir() / key
        directory.parent.mkdir(parents=True, exist_ok=True)
        if STANDALONE.get("key") == key and STANDALONE.get("directory") == directory:
            return self._build_and_run(key, directory, values, built=True)
        directory.mkdir(exist_ok=True)
        with FileLock(str(directory / "bioplausible_build.lock")):
            manifest = directory / "bioplausible_manifest.json"
            if manifest.is_file() and (directory / "main").is_file():
                # built by an earlier process: run the binary with this run's values, no code generation
                recorded = json.loads(manifest.read_text())
                if set(recorded["args"]) == set(self._run_args(self._labels(), Values())):
                    return self._run_from_disk(directory, recorded, values)
            return self._build_and_run(key, directory, values, built=False)

    def _build_and_run(self, key: str, directory: Path, values: dict[str, np.ndarray], built: bool) -> Any:
        """Build the binary of ``key`` in ``directory`` in this process (unless ``built``), then
        run it with ``values`` through ``device.run(run_args=...)``, its results in a folder of its own."""
        import shutil
        import tempfile

        import brian2 as b2

        manifest = directory / "bioplausible_manifest.json"
        b2.set_device("cpp_standalone", build_on_run=False)
        header: PrecompiledHeader | None = None
        try:
            if built:  # this process built the binary: re-run it with new values
                objects = STANDALONE["objects"]
            else:
                STANDALONE.clear()
                b2.device.reinit()
                b2.device.activate(build_on_run=False)
                gc.collect()  # free the last build's objects, so generated names (and files) repeat
                header = PrecompiledHeader.for_brian2(b2, standalone_cache_dir() / "pch")
                if header is not None:  # compiled while Brian2 generates the code
                    try:
                        header.start()
                    except OSError:  # nowhere to write it: build without
                        header = None
                    else:
                        b2.get_device().extra_compile_args = header.include_args()
                objects = self.build(b2)
                objects["network"].run(objects["duration"], namespace={})
                # unchanged files are not rewritten, so make rebuilds nothing for a cached key
                b2.device.build(run=False, compile=False, directory=str(directory))
                _compile(b2, directory, header)
                STANDALONE.update(key=key, objects=objects, directory=directory)
            args = self._run_args(objects, values)
            results = tempfile.mkdtemp(dir=directory, prefix="results_")
            try:
                b2.device.run(directory=str(directory), results_directory=os.path.basename(results), run_args=args)
                if not built:
                    self._write_manifest(b2, manifest, objects, args)
                return self._read(objects)
            finally:
                shutil.rmtree(results, ignore_errors=True)
        except BaseException:
            STANDALONE.clear()
            b2.device.reinit()
            raise
        finally:
            if header is not None:
                header.abandon()
            b2.set_device("runtime")

    def _write_manifest(self, b2: Any, path: Path, objects: dict[str, Any], args: dict[Any, Any]) -> None:
        """What :meth:`_run_from_disk` needs: each run value's command-line name and dtype, and
        each output's result file; written only when the stand-ins name exactly the run's values."""
        names = {}
        for variable in args:
            if isinstance(variable, b2.TimedArray):
                names[f"{variable.name}.values"] = np.dtype(variable.values.dtype).str
            else:
                names[f"{variable.group_name}.{variable.name}"] = np.dtype(variable.dtype).str
        if set(names) != set(self._run_args(self._labels(), Values())):
            return
        outputs = {label: [b2.device.get_array_filename(variable), np.dtype(variable.dtype).str, columns]
                   for label, (variable, columns) in self._all_outputs(objects).items()}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"args": names, "outputs": outputs}))
        os.replace(temporary, path)

    def _run_from_disk(self, directory: Path, manifest: dict[str, Any], values: dict[str, np.ndarray]) -> Any:
        """Run the cached binary in ``directory`` with this run's values (files in a scratch
        folder, given on the command line as ``device.run(run_args=...)`` does) and read its results."""
        import subprocess
        import tempfile

        import brian2 as b2

        args = self._run_args(self._labels(), values)
        with tempfile.TemporaryDirectory(dir=directory, prefix="run_") as scratch:
            command = [*([b2.prefs.devices.cpp_standalone.run_cmd_unix] if isinstance(
                b2.prefs.devices.cpp_standalone.run_cmd_unix, str) else b2.prefs.devices.cpp_standalone.run_cmd_unix),
                "--results_dir", os.path.join(scratch, "")]
            for number, (label, value) in enumerate(args.items()):
                array = np.asarray(value, dtype=manifest["args"][label])
                if array.size == 1:
                    command.append(f"{label}={array.item()!r}")
                else:
                    file = os.path.join(scratch, f"value_{number}.dat")
                    array.ravel().tofile(file)
                    command.append(f"{label}={file}")
            environment = {**os.environ, **b2.prefs.devices.cpp_standalone.run_environment_variables}
            completed = subprocess.run(command, cwd=directory, env=environment, capture_output=True, text=True)
            if completed.returncode:
                raise RuntimeError(f"the standalone binary in {directory} failed: {completed.stderr[-2000:]}")
            arrays = {}
            for label, (file, dtype, columns) in manifest["outputs"].items():
                data = np.fromfile(os.path.join(scratch, file), dtype=dtype)
                arrays[label] = data.reshape(-1, columns) if columns else data
        return self._all_assemble(arrays)


def _compile(b2: Any, directory: Path, header: PrecompiledHeader | None) -> None:
    """``make`` in ``directory`` (Brian2's ``compile_source``, one job per core) once the
    precompiled header is there; a failed build that used the header is retried without its
    ``.gch``."""
    from brian2.codegen.cpp_prefs import get_compiler_and_args

    compiler = get_compiler_and_args()[0]
    preference = b2.prefs.devices.cpp_standalone
    previous = list(preference.extra_make_args_unix)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    preference.extra_make_args_unix = [f"-j{cores}"]
    if RUN_ONCE_FLAGS:  # a second makefile of target-specific flags (Brian2's makefile unchanged)
        text = "".join(f"{target}: OPTIMISATIONS += {flags}\n" for target, flags in RUN_ONCE_FLAGS.items())
        extra = directory / "bioplausible_flags.mk"
        if not extra.is_file() or extra.read_text() != text:
            extra.write_text(text)
        preference.extra_make_args_unix += ["-f", "makefile", "-f", extra.name]
    try:
        if header is not None:
            header.wait()
        try:
            b2.device.compile_source(str(directory), compiler, debug=False, clean=False)
        except RuntimeError:
            if header is None or not header.repair():
                raise
            b2.device.compile_source(str(directory), compiler, debug=False, clean=False)
    finally:
        preference.extra_make_args_unix = previous


class Named:
    """Stands in for a Brian2 object: an attribute is its command-line name ``object.variable``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> str:
        return f"{self.name}.{attribute}"


class AnyNamed(dict):  # type: ignore[type-arg]
    """Object name -> :class:`Named` stand-in, for every name."""

    def __missing__(self, key: str) -> Named:
        return Named(key)


class Values(dict):  # type: ignore[type-arg]
    """Any run value is a placeholder (for comparing labels)."""

    def __missing__(self, key: str) -> float:
        return 0.0


#: Flags appended for objects that run once: ``objects.cpp`` (array set-up, loading, writing
#: and the ``run_args`` setter; no per-step code) is the largest unit and needs no ``-O3``.
#: (Target-specific variables of a second makefile; should Brian2 rename ``OPTIMISATIONS``,
#: the line sets an unused variable and the build is as before.) Only ``objects.o``: it is
#: linked after every code object, so an inline function that a code object also emits is
#: taken from the code object's ``-O3`` copy; a run-once code object such as
#: ``before_run_*`` is linked before the per-step ones and could lend them its ``-O1`` copies.
RUN_ONCE_FLAGS: dict[str, str] = {"objects.o": "-O1"}

#: The standalone build this process holds (key and Brian2 objects), re-run by ``run_args``.
STANDALONE: dict[str, Any] = {}
