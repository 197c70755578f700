"""A precompiled header for cpp_standalone builds (issue 17): the cold build's time is mostly
the compiler reading the C++ standard library again in every translation unit.

Measured on the direct-whitening build (n = 5, 21 translation units, g++ 12.2, Brian2's flags
``-O3 -ffast-math -fno-finite-math-only -march=native -std=c++11``, 2 cores): a code object
takes 0.55 s to compile, of which 0.54 s is its ``#include`` lines (an empty file with the same
includes); 0.38 s of that is the standard headers alone. With those headers precompiled
(``-include`` of :data:`STANDARD_HEADERS`, its ``.gch`` beside it) a code object takes 0.17 s,
all 21 units 6.2 s instead of 12.6 s one after another, and ``make -j2`` 3.5 s instead of
7.5 s. The 19 code objects (every loop the binary runs) compile to byte-identical object files;
only ``objects.o`` (array set-up and I/O) and the nearly empty ``synapses_classes.o`` differ
(register allocation), and the learned matrix is bitwise the same.

The header is built once per compiler and flag set and kept in the standalone cache
(:func:`~.standalone.standalone_cache_dir` ``/pch/<key>``; the key hashes the compiler driver,
its ``cc1plus`` (path, size, time), the macros the flags predefine — they reflect ``-march=native``,
``-O``, ``-ffast-math`` and ``-std`` — the flags and the header's text). Building it takes 1.5 s,
started in the background while Brian2 generates the code. It is written to a temporary
file and moved into place (``os.replace``), so a reader never sees half a file. GCC itself
checks a ``.gch`` before using it (same compiler binary, same relevant options and macros) and
otherwise reads the header's text, which is only standard headers, so a missing or stale
``.gch`` costs time, never correctness; a truncated one makes GCC fail, which
:meth:`PrecompiledHeader.repair` answers (the build is retried without it).
Only GCC is handled (clang reads other files); ``BIOPLAUSIBLE_STANDALONE_PCH=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["PrecompiledHeader", "STANDARD_HEADERS", "brian2_compile_flags"]

#: The standard headers Brian2's generated sources and brianlib include (``objects.h``,
#: every code object's template, ``spikequeue.h``, ``clocks.h``, ``common_math.h``).
STANDARD_HEADERS = ("cmath", "ctime", "iostream", "fstream", "climits", "random", "vector", "map", "set",
                    "string", "algorithm", "utility", "iterator", "limits", "cstdlib", "stdlib.h", "assert.h",
                    "stdint.h", "time.h")

NAME = "bioplausible_std.h"

#: The mode of the files moved into place (``mkstemp`` creates them private).
_MODE = 0o644


class PrecompiledHeader:
    """The standard headers, precompiled for ``compiler`` with ``flags``, under ``root/<key>``.

    :meth:`start` compiles the ``.gch`` in the background where it is absent, :meth:`wait`
    moves it into place; :meth:`include_args` are the flags a build adds (``-include`` the header).
    """

    def __init__(self, root: Path, compiler: str, flags: Sequence[str], macros: str | None = None) -> None:
        self.compiler, self.flags = compiler, list(flags)
        self.text = "".join(f"#include <{header}>\n" for header in STANDARD_HEADERS)
        key = hashlib.sha256(json.dumps({
            "compiler": _identity(compiler),
            "macros": _predefined_macros(compiler, self.flags) if macros is None else macros,
            "flags": self.flags, "text": self.text}, sort_keys=True).encode()).hexdigest()[:20]
        self.header = Path(root) / key / NAME
        self.gch = self.header.with_name(NAME + ".gch")
        self._process: subprocess.Popen[bytes] | None = None
        self._temporary: Path | None = None

    @classmethod
    def for_brian2(cls, b2: Any, root: Path) -> PrecompiledHeader | None:
        """The header for the flags Brian2's makefile will use, or None where it does not apply
        (not GCC, or ``BIOPLAUSIBLE_STANDALONE_PCH=0``)."""
        if os.environ.get("BIOPLAUSIBLE_STANDALONE_PCH", "1") == "0":
            return None
        compiler = os.environ.get("CXX", "g++")  # what make's $(CXX) runs
        flags = brian2_compile_flags(b2)
        if flags is None or shutil.which(compiler) is None:
            return None
        macros = _predefined_macros(compiler, flags)
        if "__GNUC__" not in macros or "__clang__" in macros:
            return None
        return cls(root, compiler, flags, macros)

    def include_args(self) -> list[str]:
        """``-include`` the header; ``-fpch-preprocess`` lets the makefile's dependency pass
        (``-MM``, preprocessing only) read the ``.gch`` too: 0.23 s instead of 0.94 s of CPU
        for the 21 units (its ``#pragma`` lines are comments to make)."""
        return ["-include", str(self.header), "-fpch-preprocess"]

    def start(self) -> None:
        """Write the header (where its text differs) and, where no ``.gch`` is there, start
        compiling one into a temporary file."""
        self.header.parent.mkdir(parents=True, exist_ok=True)
        if not self.header.is_file() or self.header.read_text() != self.text:
            _write_atomically(self.header, self.text)
        if self.gch.is_file() or self._process is not None:
            return
        handle, name = tempfile.mkstemp(dir=self.header.parent, prefix=f".{NAME}.", suffix=".gch.tmp")
        os.close(handle)
        try:
            self._process = subprocess.Popen(
                [self.compiler, *self.flags, "-x", "c++-header", str(self.header), "-o", name],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            os.unlink(name)
            raise
        self._temporary = Path(name)

    def wait(self) -> bool:
        """Finish a build that :meth:`start` began (its file moved into place only when the
        compiler succeeded); True when a ``.gch`` is there."""
        if self._process is not None:
            code = self._process.wait()
            assert self._temporary is not None
            if code == 0 and self._temporary.stat().st_size > 0:
                os.chmod(self._temporary, _MODE)
                os.replace(self._temporary, self.gch)
            else:
                self._temporary.unlink(missing_ok=True)
            self._process = self._temporary = None
        return self.gch.is_file()

    def abandon(self) -> None:
        """Stop a build that :meth:`start` began and remove its temporary file."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            assert self._temporary is not None
            self._temporary.unlink(missing_ok=True)
            self._process = self._temporary = None

    def repair(self) -> bool:
        """After a failed build: drop the ``.gch`` and rewrite the header, so that a retry reads
        the plain text; True when there was something to repair."""
        existed = self.gch.is_file() or not self.header.is_file() or self.header.read_text() != self.text
        self.gch.unlink(missing_ok=True)
        self.header.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.header, self.text)
        return existed


def brian2_compile_flags(b2: Any) -> list[str] | None:
    """The flags Brian2's standalone makefile compiles with (``CXXFLAGS`` less ``-c`` and
    ``-I.``: ``-Wno-write-strings``, the macros and include folders, then the compiler
    arguments, as ``CPPStandaloneDevice.build`` assembles them), or None for a compiler other
    than GCC's driver."""
    from brian2.codegen.cpp_prefs import get_compiler_and_args

    compiler, arguments = get_compiler_and_args()
    if compiler not in ("gcc", "unix"):
        return None
    device = b2.get_device()  # the standalone device's own lists (absent on the runtime device)
    flags = ["-Wno-write-strings"]
    for macro in [*getattr(device, "define_macros", []), *b2.prefs["codegen.cpp.define_macros"]]:
        if len(macro) == 1:
            flags.append(f"-U{macro[0]}")
        else:
            flags.append(f"-D{macro[0]}" if macro[1] is None else f"-D{macro[0]}={macro[1]}")
    flags += [f"-I{folder}" for folder in [*getattr(device, "include_dirs", []), *b2.prefs["codegen.cpp.include_dirs"]]]
    return flags + list(arguments)


def _identity(compiler: str) -> list[Any]:
    """The compiler driver and the ``cc1plus`` it runs: paths, sizes and modification times."""
    parts: list[Any] = []
    driver = shutil.which(compiler) or compiler
    proper = subprocess.run([compiler, "-print-prog-name=cc1plus"], capture_output=True, text=True).stdout.strip()
    for path in (driver, proper):
        real = os.path.realpath(path)
        try:
            status = os.stat(real)
            parts.append([real, status.st_size, status.st_mtime_ns])
        except OSError:
            parts.append([real, None, None])
    return parts


def _predefined_macros(compiler: str, flags: Sequence[str]) -> str:
    completed = subprocess.run([compiler, *flags, "-dM", "-E", "-x", "c++", os.devnull],
                               capture_output=True, text=True)
    return completed.stdout if completed.returncode == 0 else ""


def _write_atomically(path: Path, text: str) -> None:
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.chmod(name, _MODE)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
