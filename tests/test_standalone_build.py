"""The cold cpp_standalone build (issue 17): the precompiled standard headers are built once,
atomically, keyed by compiler and flags, used by GCC, and never change what a build learns (the
code objects compile to the same bytes); a corrupt one is repaired and the build still
succeeds; the run-once ``objects.cpp`` is compiled at ``-O1``."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bioplausible.substrates.spiking.compiled import available_targets

brian2 = pytest.importorskip("brian2")

from bioplausible.substrates.spiking.precompiled import PrecompiledHeader, brian2_compile_flags  # noqa: E402

PROGRAM = ("#include <vector>\n#include <cmath>\n"
           "int main() { std::vector<double> v(3, 2.0); return int(std::sqrt(v[1])) - 1; }\n")


def _header(root: Path, flags: list[str] | None = None) -> PrecompiledHeader:
    if "cpp_standalone" not in available_targets():
        pytest.skip("cpp_standalone needs a C++ compiler")
    header = PrecompiledHeader.for_brian2(brian2, root)
    if header is None:
        pytest.skip("the precompiled header is for GCC")
    return header if flags is None else PrecompiledHeader(root, header.compiler, flags)


def _compile(header: PrecompiledHeader, folder: Path) -> subprocess.CompletedProcess[str]:
    """A small program compiled as a build would compile it; ``-H`` lists the headers read
    (a ``!`` line: the ``.gch`` was used)."""
    source = folder / "program.cpp"
    source.write_text(PROGRAM)
    return subprocess.run([header.compiler, *header.include_args(), *header.flags, "-H", "-c", str(source),
                           "-o", str(folder / "program.o")], capture_output=True, text=True)


def test_the_header_is_built_once_atomically_and_used(tmp_path):
    header = _header(tmp_path / "pch")
    assert not header.gch.exists()
    header.start()
    assert header.wait() and header.gch.stat().st_size > 1_000_000
    assert sorted(p.name for p in header.header.parent.iterdir()) == [header.header.name, header.gch.name]
    stamp = header.gch.stat().st_mtime_ns
    again = _header(tmp_path / "pch")  # another build with the same compiler and flags
    assert again.header == header.header
    again.start()
    assert again.wait() and header.gch.stat().st_mtime_ns == stamp  # not rebuilt
    compiled = _compile(header, tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    assert f"! {header.gch}" in compiled.stderr  # GCC accepted it for these flags
    other = _header(tmp_path / "pch", [*header.flags, "-O0"])  # other flags: another key
    assert other.header.parent != header.header.parent


def test_a_header_built_for_other_flags_is_not_used(tmp_path):
    header = _header(tmp_path / "pch")
    header.start()
    header.wait()
    stale = PrecompiledHeader(tmp_path / "pch", header.compiler, [f for f in header.flags if f != "-ffast-math"])
    stale.header.parent.mkdir(parents=True)
    stale.header.write_text(header.text)
    stale.gch.write_bytes(header.gch.read_bytes())  # compiled with -ffast-math, used without
    compiled = _compile(stale, tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    assert f"! {stale.gch}" not in compiled.stderr and f"x {stale.gch}" in compiled.stderr  # read as text


def test_a_truncated_header_fails_the_compiler_and_is_repaired(tmp_path):
    header = _header(tmp_path / "pch")
    header.start()
    header.wait()
    header.gch.write_bytes(header.gch.read_bytes()[:100_000])  # what a non-atomic write could leave
    assert _compile(header, tmp_path).returncode != 0
    assert header.repair() and not header.gch.exists()
    compiled = _compile(header, tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    assert not header.repair()  # nothing left to repair


def test_an_abandoned_build_leaves_no_temporary_file(tmp_path):
    header = _header(tmp_path / "pch")
    header.start()
    header.abandon()
    assert list(header.header.parent.iterdir()) == [header.header]


def _makefile_flags(build: Path) -> list[str]:
    """The flags in Brian2's generated makefile (``CXXFLAGS``: ``-Wno-write-strings`` then
    ``OPTIMISATIONS``), less the ``-include`` of the header."""
    (line,) = [line for line in (build / "makefile").read_text().splitlines() if line.startswith("OPTIMISATIONS =")]
    words = shlex.split(line.split("=", 1)[1])
    at = words.index("-include")
    assert words[at + 2] == "-fpch-preprocess"
    return ["-Wno-write-strings", *words[:at], *words[at + 3:]]


def _learn(cache: Path, monkeypatch, header: bool) -> tuple[np.ndarray, dict[str, bytes], Path]:
    """A compiled learning run built in a fresh ``cache``: the learned matrix and the code
    objects' compiled files, and the build folder."""
    from bioplausible.circuits import Batch, DirectWhitening
    from bioplausible.substrates.spiking import SpikingSubstrate

    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(cache))
    monkeypatch.setenv("BIOPLAUSIBLE_STANDALONE_PCH", "1" if header else "0")
    circuit = DirectWhitening(learning_rate=0.05).initialize(3, 0, [4])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, codegen="cpp_standalone")
    substrate.prepare(circuit, 4)
    batch = Batch(np.random.default_rng(4).standard_normal((1, 40, 3)))
    assert substrate.learning_run(circuit, batch, 10)["codegen"] == "cpp_standalone"
    (build,) = [p for p in (cache / "brian2_standalone").iterdir() if p.name != "pch"]
    objects = {p.name: p.read_bytes() for p in (build / "code_objects").glob("*.o")}
    return circuit.state["recurrent"].copy(), objects, build


@pytest.mark.slow
def test_a_build_with_the_header_learns_what_a_build_without_it_learns(tmp_path, monkeypatch):
    """Three builds (about 20 s on two idle cores): without the header, with it (built in the
    background), and with a truncated one (the build fails, is repaired and retried)."""
    _header(tmp_path / "unused")
    plain, plain_objects, _ = _learn(tmp_path / "plain", monkeypatch, header=False)
    assert not (tmp_path / "plain" / "brian2_standalone" / "pch").exists()
    learned, objects, build = _learn(tmp_path / "pch", monkeypatch, header=True)
    np.testing.assert_array_equal(learned, plain)
    assert objects == plain_objects  # every code object compiles to the same bytes
    (folder,) = (tmp_path / "pch" / "brian2_standalone" / "pch").iterdir()
    gch = folder / "bioplausible_std.h.gch"
    assert sorted(p.name for p in folder.iterdir()) == ["bioplausible_std.h", gch.name]  # no temporary files
    # the header was compiled with the flags make used (GCC would otherwise ignore it)
    assert _makefile_flags(build) == brian2_compile_flags(brian2)
    assert f"-include {folder / 'bioplausible_std.h'}" in (build / "makefile").read_text()
    # the run-once objects.cpp at -O1, the code objects at Brian2's -O3
    commands = subprocess.run(["make", "-n", "-B", "-f", "makefile", "-f", "bioplausible_flags.mk", "objects.o",
                               "code_objects/compiled_rule_codeobject.o"], cwd=build, capture_output=True,
                              text=True, check=True).stdout.splitlines()
    (objects_line,) = [c for c in commands if c.endswith("-o objects.o")]
    (rule_line,) = [c for c in commands if c.endswith("-o code_objects/compiled_rule_codeobject.o")]
    assert [w for w in objects_line.split() if w.startswith("-O")][-1] == "-O1"  # the last -O wins
    assert [w for w in rule_line.split() if w.startswith("-O")] == ["-O3"]
    corrupt = tmp_path / "corrupt" / "brian2_standalone" / "pch" / folder.name
    corrupt.mkdir(parents=True)
    (corrupt / "bioplausible_std.h").write_text((folder / "bioplausible_std.h").read_text())
    (corrupt / gch.name).write_bytes(gch.read_bytes()[:100_000])
    repaired, _, _ = _learn(tmp_path / "corrupt", monkeypatch, header=True)
    np.testing.assert_array_equal(repaired, plain)
    assert sorted(p.name for p in corrupt.iterdir()) == ["bioplausible_std.h"]  # the truncated file is gone


def _standalone_runs(cache: str, learning_rate: float, runs: int) -> list[list[float]]:
    """In a process of its own: ``runs`` cpp_standalone runs of one architecture (direct
    whitening, 2 members), each a fresh circuit with ``learning_rate``; the final errors."""
    import os

    os.environ["BIOPLAUSIBLE_CACHE_DIR"] = cache
    import bioplausible as bpl

    task = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=1, samples_per_context=300)
    options = {"rate_unit": 50.0, "presentation": 0.1, "dt": 5e-4, "codegen": "cpp_standalone"}
    return [bpl.run(bpl.circuits.DirectWhitening(learning_rate=learning_rate), task, "spiking", seeds=[0, 1],
                    steps=300, eval_every=300, progress=False, substrate_options=options)
            .dataset["metric_whitening_error"].values[:, -1].tolist() for _ in range(runs)]


@pytest.mark.slow
def test_two_processes_running_one_architecture_read_only_their_own_results(tmp_path):
    """Two processes start cold on one architecture with different learning rates (as a
    comparison's or a sweep's workers do): one builds while the other waits on the lock, and
    every run reads its own results (before, both built and ran in the shared folder and each
    read the other's results in some runs: measured 2 of 8 runs, 300 presentations each). The
    reference is the numpy target, which learns the same numbers as the binary."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "cpp_standalone" not in available_targets():
        pytest.skip("cpp_standalone needs a C++ compiler")
    import bioplausible as bpl

    task = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=1, samples_per_context=300)
    reference = {rate: bpl.run(bpl.circuits.DirectWhitening(learning_rate=rate), task, "spiking", seeds=[0, 1],
                               steps=300, eval_every=300, progress=False,
                               substrate_options={"rate_unit": 50.0, "presentation": 0.1, "dt": 5e-4,
                                                  "codegen": "numpy"}).dataset["metric_whitening_error"]
                 .values[:, -1] for rate in (0.02, 0.01)}
    assert not np.allclose(reference[0.02], reference[0.01])
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {rate: pool.submit(_standalone_runs, str(tmp_path), rate, 6) for rate in reference}
        results = {rate: future.result() for rate, future in futures.items()}
    for rate, runs in results.items():
        for errors in runs:
            np.testing.assert_allclose(errors, reference[rate], rtol=1e-9)
    folders = [p for p in (tmp_path / "brian2_standalone").iterdir() if p.is_dir() and p.name != "pch"]
    assert len(folders) == 1  # one build, then runs of it
    # every run wrote into a folder of its own, removed after reading; the build's own
    # "results" folder stays empty
    assert not [p.name for p in folders[0].iterdir() if p.name.startswith(("results_", "run_"))]
    assert not list((folders[0] / "results").glob("*"))
