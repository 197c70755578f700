"""Whole learning runs of the spiking substrate (issue 17): which target a run takes
(:meth:`LearningRuns.pick_codegen`), whether it runs as one Brian2 run in generated code
(:meth:`LearningRuns.learning_run_reason`), and the run itself (:meth:`LearningRuns.learning_run`):
a warm-up on the chunked path where a circuit's declared steps are not idle yet (its
presentations that nothing reads without a simulation), then the rest in generated code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

from ...circuits.base import Circuit
from ...core import AnyBatch, Batch

__all__ = ["LearningRuns", "STANDALONE_WORTH_STEPS"]

#: Below this many numpy time steps (≈ 30 µs each, ≈ 6 s) a standalone build (code generation
#: and ``make`` with the precompiled headers, 5–7 s on 2 cores; cached on disk after) is not
#: worth it for ``codegen="auto"``, unless the build is already cached.
STANDALONE_WORTH_STEPS = 200_000


class LearningRuns:
    """The whole-run methods of :class:`~.substrate.SpikingSubstrate` (mixed in)."""

    codegen: str
    codegen_option: str
    codegen_used: str | None
    codegen_reason: str | None
    compiled_runs: bool
    record_spikes: bool
    plasticity: str
    presentation: float
    dt: float

    # what the chunked stretch calls (SpikingSubstrate.learn, Substrate.apply_rules)
    learn: Callable[[Circuit, AnyBatch, int, int], dict[str, np.ndarray]]
    apply_rules: Callable[[Circuit, Any, AnyBatch], None]

    def pick_codegen(self, circuit: Circuit, n_presentations: int, checkpoint_every: int = 1) -> tuple[str, str]:
        """The target :meth:`learning_run` uses for ``circuit``, ``n_presentations`` and
        ``checkpoint_every`` (part of what a standalone build is keyed by), and why."""
        from .compiled import available_targets, compiled_learning, compiled_support, standalone_cache_dir

        reason = ("plasticity='stdp' runs on the chunked path" if self.plasticity == "stdp"
                  else compiled_support(circuit))
        if reason:
            return "runtime", f"not in generated code: {reason}"
        if self.codegen_option != "auto":
            if self.codegen_option not in available_targets():
                raise ValueError(f"codegen={self.codegen_option!r} is not available here (no C++ compiler, make "
                                 f"or Cython); available: {list(available_targets())}")
            return self.codegen_option, "requested"
        if "cpp_standalone" not in available_targets():
            return "numpy", "no C++ compiler: numpy"
        key = compiled_learning(self, circuit, n_presentations, checkpoint_every, "cpp_standalone").key()
        steps = n_presentations * round(self.presentation / self.dt)
        if steps >= STANDALONE_WORTH_STEPS:
            return "cpp_standalone", f"{steps} time steps pay for a standalone build"
        if (standalone_cache_dir() / key).is_dir():
            return "cpp_standalone", "standalone build cached on disk"
        return "numpy", f"{steps} time steps < {STANDALONE_WORTH_STEPS}: a build would cost more than it saves"

    def learning_run_reason(self, circuit: Circuit) -> str | None:
        """None when :meth:`learning_run` runs ``circuit``'s learning as one Brian2 run in
        generated code (what the runner then does), else why it does not."""
        from .compiled import compiled_support

        if not self.compiled_runs:
            return "compiled_runs=False"
        if self.record_spikes:
            return "record_spikes=True drains the spike monitors between chunks"
        if self.plasticity == "stdp":
            return "plasticity='stdp' runs on the chunked path (its traces are read between presentations)"
        reason = compiled_support(circuit)
        return None if reason is None else f"not in generated code: {reason}"

    def learning_run(self, circuit: Circuit, batch: Batch, checkpoint_every: int) -> dict[str, Any]:
        """Present every sample of ``batch`` (K, S, n) once, learning after each (batch size 1),
        as one Brian2 run in generated code where :func:`~.compiled.compiled_support` and
        ``compiled_runs`` allow (else the chunked runtime path, one chunk per checkpoint
        interval; the presentations before a circuit's declared steps are idle run there too,
        those that need no simulation without one, :meth:`_quiet`). Returns ``checkpoints``
        (the plastic states after 0, e, 2e, … updates, a dict of arrays (C, …) per state),
        ``checkpoint_steps``, ``codegen`` (the target used) and ``codegen_reason``; the circuit
        ends in its learned state."""
        from .compiled import compiled_learning

        if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")
        chunked, grid = self._chunked_presentations(circuit, batch.size, checkpoint_every)
        target, why = (self.pick_codegen(circuit, max(batch.size - chunked, 1), grid) if self.compiled_runs
                       else ("runtime", "compiled_runs=False"))
        if target != "runtime" and chunked == batch.size:
            target, why = "runtime", f"its state steps are not idle within the run's {chunked} presentations"
        if target == "runtime":
            chunked = batch.size
        first = circuit.steps
        states = [{k: v.copy() for k, v in circuit.state.items()}]
        requested = self.codegen  # a standalone run's chunked stretch runs on numpy
        self.codegen = "numpy" if requested == "cpp_standalone" and chunked < batch.size else requested
        quiet = 0
        try:
            for start in range(0, chunked, checkpoint_every):
                end, position = min(start + checkpoint_every, chunked), start
                while position < end and self._quiet(circuit):  # nothing reads this presentation's spikes
                    self._learn_quietly(circuit, batch[position: position + 1])
                    position, quiet = position + 1, quiet + 1
                if position < end:
                    self.learn(circuit, batch[position: end], 1, circuit.steps)
                states.append({k: v.copy() for k, v in circuit.state.items()})
        finally:
            self.codegen = requested
        if quiet:
            why = (f"{why}; {quiet} presentations simulated nothing (every rule gated off, every step that reads "
                   "a simulated activity inactive)")
        steps = [first] + [min(first + s + checkpoint_every, first + chunked)
                           for s in range(0, chunked, checkpoint_every)]
        checkpoints = {k: np.stack([s[k] for s in states]) for k in states[0]}
        if target == "runtime":
            return {"checkpoints": checkpoints, "checkpoint_steps": np.array(steps), "codegen": self.codegen,
                    "codegen_reason": why}
        run = compiled_learning(self, circuit, batch.size - chunked, grid, target)
        result = run.run(batch[chunked:])
        compiled = result["checkpoints"]
        compiled = compiled if isinstance(compiled, dict) else {run.binding.state: compiled}
        if chunked:  # the checkpoints of both stretches on the run's grid (the compiled run records on a finer one)
            chunk_target = "numpy" if self.codegen == "cpp_standalone" else self.codegen
            why = f"{why}; the first {chunked} presentations on the chunked path ({chunk_target}: state steps not idle)"
            on_grid = [i for i, step in enumerate(steps) if (step - first) % checkpoint_every == 0]
            end = len(result["checkpoint_steps"]) - 1  # the run's end is a checkpoint, on the grid or not
            later = [i for i, step in enumerate(result["checkpoint_steps"])
                     if i > 0 and ((step - first) % checkpoint_every == 0 or i == end)]
            compiled = {k: np.concatenate([v[on_grid], compiled[k][later] if k in compiled else
                                           np.repeat(v[-1:], len(later), axis=0)]) for k, v in checkpoints.items()}
            result["checkpoint_steps"] = np.concatenate([np.asarray(steps)[on_grid],
                                                         result["checkpoint_steps"][later]])
        self.codegen_used, self.codegen_reason = target, why
        return {"checkpoints": compiled, "checkpoint_steps": result["checkpoint_steps"], "codegen": target,
                "codegen_reason": why}

    @staticmethod
    def _quiet(circuit: Circuit) -> bool:
        """Whether the next update of ``circuit`` reads nothing a simulation would give: every
        rule gated off for every member, and every declared step that reads an activity other
        than the input's inactive (``StateStep.active``), e.g. NSM's prewhitening phase."""
        from ...rules.declaration import inactive_steps

        bindings = list(getattr(circuit, "rule_bindings", list)())
        if not bindings or any(b.gate is None for b in bindings):
            return False
        quantities = cast(Any, circuit).rule_states()
        if any(np.any(np.asarray(quantities[b.gate]) != 0) for b in bindings):
            return False
        inputs = {p.name for p in circuit.populations() if p.role == "input"}
        steps = list(cast(Any, circuit).state_steps())
        inactive = {s.name for s in inactive_steps(circuit.state, steps)}
        return all(s.name in inactive or set(s.activities) <= inputs for s in steps)

    def _learn_quietly(self, circuit: Circuit, batch: Batch) -> None:
        """One update without a simulation (:meth:`_quiet`): the input, every other population at 0."""
        k = circuit.ensemble_size
        activities = {p.name: batch.inputs if p.role == "input" else np.zeros((k, batch.size, p.size))
                      for p in circuit.populations()}
        self.apply_rules(circuit, activities, batch)
        circuit.check_finite(int(circuit.steps))

    @staticmethod
    def _chunked_presentations(circuit: Circuit, presentations: int, checkpoint_every: int) -> tuple[int, int]:
        """Presentations a learning run makes on the chunked path before its compiled run (until
        every declared state step is idle or samplewise, ``StateStep.active``; 0 for circuits
        without steps), and the checkpoint interval of the compiled run: the finest divisor g
        of ``checkpoint_every`` with 64 g ≥ ``checkpoint_every`` when there is a chunked
        stretch, which ends on a multiple of g (so the run's own checkpoints fall on g's grid)."""
        from ...rules.declaration import samples_until_idle
        from .compiled_structure import realised_steps

        realised = realised_steps(circuit)
        steps = [s for s in getattr(circuit, "state_steps", list)() if s.name not in realised]
        waiting = samples_until_idle(circuit.state, steps) if steps else 0
        if waiting is None:
            return presentations, checkpoint_every
        if waiting == 0:
            return 0, checkpoint_every
        grid = min(d for d in range(1, checkpoint_every + 1)
                   if checkpoint_every % d == 0 and 64 * d >= checkpoint_every)
        return min(presentations, -(-waiting // grid) * grid), grid
