"""Sequence recall: store a cyclic sequence of ±1 patterns in one pass, then replay it
(theory: :ref:`theory-sequence-metrics`).

Pattern generators (all from the task's own Generator):

* ``"iid"``: Rademacher, ``P(ξ_i = +1) = 1/2``;
* ``"biased"``: ``P(ξ_i = +1) = (1 + bias)/2``;
* ``"drift"``: ``ξ^{μ+1}`` is ``ξ^μ`` with each bit flipped with probability ``flip_probability``
  (a stand-in for video frames);
* ``"moving-digits"``: binarised frames of two scikit-learn digits (8 × 8) bouncing on a
  ``canvas × canvas`` frame, built offline the way Moving MNIST is built (clips of
  ``clip_length`` frames with new digits, concatenated); ``"moving-fashion"`` does the same
  with Fashion-MNIST items (28 × 28) from /usr/share/datasets/fashion-mnist when present.

Learning is the one-pass write: the training stream presents the transitions in order,
``inputs`` = ξ^μ (state at step μ), ``targets`` = ξ^{μ+1} (state at step μ+1); one pass is
``default_steps`` = number of transitions updates of one sample.

Metrics (``score``; on the spiking substrate the recall is the circuit's spiking replay):

* ``transition_success``: fraction of transitions for which one synchronous step from the
  exact ξ^μ gives ξ^{μ+1} on all N bits; ``sequence_success``: 1 if all succeed, else 0;
* ``recall_overlap``: mean over recall steps (and cues) of the overlap ``ξ^{expected}·S(t)/N``
  of a rollout from ξ¹ (with ``cue_noise`` of its bits flipped); ``final_overlap`` at the
  last step; ``recall_success``: fraction of cues whose whole rollout matches the expected
  schedule exactly; ``order_success``: the argmax-decoded patterns visit the stored order
  (timing ignored); ``duplicate_fraction``: consecutive identical patterns.

:meth:`SequenceRecall.capacity` finds the largest P with success ≥ ``threshold`` over
``draws`` sequences (batched over draws as a circuit ensemble; bracket doubling + bisection).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np

from ..core import Batch, CircuitLike, rollout
from ..core.protocols import Rollout
from ..validation import check_bool, check_choice, check_integer, check_real
from .base import Task, register_task

__all__ = ["SequenceRecall", "largest_passing", "moving_frames", "FASHION_MNIST_DIR"]

GENERATORS = ("iid", "biased", "drift", "moving-digits", "moving-fashion")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@register_task
class SequenceRecall(Task):
    """Store and replay a pattern sequence; see the module docstring."""

    name = "sequence"
    description = "one-pass write of a ±1 pattern sequence, then synchronous recall (transition/sequence success)"
    family = "sequence"
    circuit_families = ("sequence",)
    default_batch_size = 1
    #: Default and quick load: P = 10 patterns on N = 200 units, half SeqNet's transition capacity
    #: N/(2 ln N) ≈ 18.9 and near its sequence capacity N/(4 ln N) ≈ 9.4, so every circuit,
    #: SeqNet included, recalls (measured, SeqNet, 10 seeds: transition and sequence success 1 in
    #: every seed; at the former N = 100, P = 20, four times its sequence capacity, 0.55). The
    #: capacities themselves are measured by :meth:`SequenceRecall.capacity` and
    #: ``benchmarks/sequence_capacity.py``, where DenseNet's lead over SeqNet shows.
    quick_options: ClassVar[dict[str, Any]] = {"n_neurons": 200, "sequence_length": 10, "cue_noise": 0.1}
    #: 10 spikes per active unit and window (windows of 100 ms or more are not needed for ±1 states)
    quick_spiking_options: ClassVar[dict[str, Any]] = {"rate_unit": 200.0, "presentation": 0.05, "dt": 5e-4}
    headline_metrics: ClassVar[tuple[str, ...]] = ("transition_success", "sequence_success", "recall_overlap")
    #: Over a one-pass write every circuit's transition success is the fraction of transitions
    #: written so far (the same straight line for every circuit), and a spiking score is a
    #: full replay: the figures show the final recall per circuit and seed instead.
    learning_curve_figure: ClassVar[bool] = False

    def __init__(
        self,
        n_neurons: int | None = None,
        sequence_length: int = 10,
        patterns: str = "iid",
        bias: float = 0.0,
        flip_probability: float = 0.05,
        cue_noise: float = 0.0,
        n_cues: int = 1,
        recall_steps: int | None = None,
        periodic: bool = True,
        deduplicate: bool = False,
        canvas: int | None = None,
        clip_length: int = 20,
    ) -> None:
        super().__init__()
        self.patterns = check_choice("patterns", patterns, GENERATORS)
        image = self.patterns.startswith("moving")
        side = 28 if self.patterns == "moving-fashion" else 8
        self.canvas: int | None = None
        if image:
            self.canvas = frame_side = check_integer("canvas", canvas if canvas is not None else 2 * side, side)
            if n_neurons is not None and n_neurons != frame_side**2:
                raise ValueError(f"n_neurons must be canvas**2={frame_side ** 2} for patterns={patterns!r}, "
                                 f"got {n_neurons}")
            n_neurons = frame_side**2
        self.n_neurons = check_integer("n_neurons", 200 if n_neurons is None else n_neurons, 2)
        self.sequence_length = check_integer("sequence_length", sequence_length, 2)
        self.bias = check_real("bias", bias, -1.0, 1.0, inclusive=False)
        self.flip_probability = check_real("flip_probability", flip_probability, 0.0, 1.0)
        self.cue_noise = check_real("cue_noise", cue_noise, 0.0, 1.0)
        self.n_cues = check_integer("n_cues", n_cues, 1)
        self.recall_steps = None if recall_steps is None else check_integer("recall_steps", recall_steps, 1)
        self.periodic = check_bool("periodic", periodic)
        self.deduplicate = check_bool("deduplicate", deduplicate)
        self.clip_length = check_integer("clip_length", clip_length, 2)
        if self.patterns == "moving-fashion" and not FASHION_MNIST_DIR.exists():
            raise FileNotFoundError(f"patterns='moving-fashion' needs Fashion-MNIST under {FASHION_MNIST_DIR} "
                                    "(Debian package dataset-fashion-mnist)")
        n_transitions = self.sequence_length if self.periodic else self.sequence_length - 1
        self.default_steps = n_transitions
        self.default_eval_every = n_transitions
        self.sequence: np.ndarray | None = None
        self._position = 0

    @property
    def n_inputs(self) -> int:
        return self.n_neurons

    @property
    def n_targets(self) -> int:
        return self.n_neurons

    # ------------------------------------------------------------------ data
    def draw(self, rng: np.random.Generator, n_draws: int, length: int) -> np.ndarray:
        """``n_draws`` sequences of ``length`` patterns from this task's generator, (draws, P, N)."""
        n = self.n_neurons
        if self.patterns == "iid":
            return np.where(rng.random((n_draws, length, n)) < 0.5, 1.0, -1.0)
        if self.patterns == "biased":
            return np.where(rng.random((n_draws, length, n)) < (1 + self.bias) / 2, 1.0, -1.0)
        if self.patterns == "drift":
            first = np.where(rng.random((n_draws, 1, n)) < 0.5, 1.0, -1.0)
            flips = np.where(rng.random((n_draws, length - 1, n)) < self.flip_probability, -1.0, 1.0)
            return first * np.concatenate([np.ones((n_draws, 1, n)), np.cumprod(flips, axis=1)], axis=1)
        images = _digit_images() if self.patterns == "moving-digits" else _fashion_images(FASHION_MNIST_DIR)
        canvas = int(np.sqrt(self.n_neurons))  # the frame side (n_neurons = canvas² for the moving patterns)
        return np.stack([moving_frames(images, length, canvas, rng, self.clip_length) for _ in range(n_draws)])

    def _generate(self) -> None:
        rng = self._require_reset()
        sequence = self.draw(rng, 1, self.sequence_length)[0]
        same = np.all(sequence == np.roll(sequence, -1, axis=0), axis=1)[: self.n_transitions_of(len(sequence))]
        self.duplicate_fraction = float(same.mean())
        if self.deduplicate and same.any():
            keep = np.concatenate([[True], np.any(sequence[1:] != sequence[:-1], axis=1)])
            sequence = sequence[keep]
            if self.periodic and len(sequence) > 1 and np.all(sequence[-1] == sequence[0]):
                sequence = sequence[:-1]
        if len(sequence) < 2:
            raise ValueError("the sequence has fewer than 2 distinct patterns after deduplication")
        self.sequence = sequence
        self._successors = np.roll(sequence, -1, axis=0)
        self._n_transitions = self.n_transitions_of(len(sequence))
        noise_rng = np.random.default_rng(rng.integers(2**63))
        flips = noise_rng.random((self.n_cues, self.n_neurons)) < self.cue_noise
        self.cues = np.where(flips, -sequence[0], sequence[0])
        self._position = 0

    def n_transitions_of(self, length: int) -> int:
        return length if self.periodic else length - 1

    def _stored(self) -> np.ndarray:
        """The stored sequence (P, N); the task must have been reset."""
        self._require_reset()
        if self.sequence is None:
            raise RuntimeError("SequenceRecall must be reset(seed=...) before use")
        return self.sequence

    def next_batch(self, size: int) -> Batch:
        sequence = self._stored()
        index = (self._position + np.arange(size)) % self._n_transitions
        self._position += size
        return Batch(sequence[index], self._successors[index], {"transition": index})

    # ------------------------------------------------------------------ scoring
    def recall(self, circuit: CircuitLike, substrate: Any = None, n_steps: int | None = None) -> dict[str, np.ndarray]:
        """Rollout from the cues: ``trajectory`` (T+1, C, N), ``expected`` indices (T+1,),
        ``overlap`` with the expected pattern (T+1, C), ``decoded`` argmax pattern (T+1, C)."""
        sequence = self._stored()
        n_patterns = len(sequence)
        schedule = getattr(circuit, "schedule", lambda steps, p: np.arange(steps + 1) % p)
        if n_steps is None:
            length = getattr(circuit, "recall_length", lambda p, periodic: p if periodic else p - 1)
            n_steps = self.recall_steps or length(n_patterns, self.periodic)
        trajectory = rollout(cast(Rollout, circuit), self.cues, n_steps, substrate)[0]
        expected = schedule(n_steps, n_patterns)
        overlap = np.einsum("tcn,tn->tc", trajectory, sequence[expected]) / self.n_neurons
        decoded = np.argmax(trajectory @ sequence.T, axis=-1)
        return {"trajectory": trajectory, "expected": expected, "overlap": overlap, "decoded": decoded}

    def score(self, circuit: CircuitLike, batch: Batch | None = None, substrate: Any = None) -> dict[str, float]:
        sequence = self._stored()
        n_t = self._n_transitions
        stepped = rollout(cast(Rollout, circuit), sequence[:n_t], 1, substrate)[0, 1]
        success = np.all(stepped == self._successors[:n_t], axis=-1)
        result = self.recall(circuit, substrate)
        exact = np.all(result["trajectory"] == sequence[result["expected"]][:, None, :], axis=-1)
        order = _collapse(result["expected"])
        order_ok = [np.array_equal(_collapse(result["decoded"][:, c]), order) for c in range(self.n_cues)]
        return {
            "transition_success": float(success.mean()),
            "sequence_success": float(success.all()),
            "recall_overlap": float(result["overlap"][1:].mean()),
            "final_overlap": float(result["overlap"][-1].mean()),
            "recall_success": float(exact[1:].all(axis=0).mean()),
            "order_success": float(np.mean(order_ok)),
            "duplicate_fraction": self.duplicate_fraction,
        }

    def summarize(self, trace: Mapping[str, np.ndarray], steps: np.ndarray) -> dict[str, float]:
        return {f"final_{k}": float(np.asarray(trace[k])[-1])
                for k in ("transition_success", "sequence_success", "recall_overlap") if k in trace}

    # ------------------------------------------------------------------ capacity
    def success_rates(self, circuit: CircuitLike, length: int, draws: int = 20, seed: int = 0) -> tuple[float, float]:
        """(transition rate, sequence rate) at sequence length P over ``draws`` fresh sequences.

        The draws are one ensemble of ``circuit`` (K = draws): one batched write, one batched
        step of all P·draws stored patterns.
        """
        rng = np.random.default_rng([seed, length])
        patterns = self.draw(rng, draws, length)
        successors = np.roll(patterns, -1, axis=1)
        if not self.periodic:
            patterns, successors = patterns[:, :-1], successors[:, :-1]
        clone: Any = copy.deepcopy(circuit)  # a sequence circuit: initialize, learn, step
        clone.initialize(self.n_neurons, self.n_neurons, list(range(draws)))
        clone.learn({"cue": patterns}, Batch(patterns, successors))
        ok = np.all(clone.step(patterns) == successors, axis=-1)
        return float(ok.mean()), float(ok.all(axis=1).mean())

    def capacity(self, circuit: CircuitLike, criterion: str = "transition", draws: int = 20, threshold: float = 0.5,
                 seed: int = 0, low: int = 2, high: int | None = None) -> tuple[int, dict[int, float]]:
        """Largest P whose success rate (``criterion`` transition or sequence) is ≥ ``threshold``.

        Bracket doubling from ``low``, then bisection (``largest_passing``); returns P and the
        rates evaluated. P must stay ≤ ``high`` (default: N for the pseudoinverse rule, else 10⁶).
        """
        check_choice("criterion", criterion, ["transition", "sequence"])
        check_integer("draws", draws, 1)
        if high is None:
            high = self.n_neurons if getattr(circuit, "name", "") == "pseudoinverse" else 10**6
        column = 0 if criterion == "transition" else 1
        rates: dict[int, float] = {}

        def passes(length: int) -> bool:
            rates[length] = self.success_rates(circuit, length, draws, seed)[column]
            return rates[length] >= threshold

        return largest_passing(passes, low, high), dict(sorted(rates.items()))


def largest_passing(passes: Callable[[int], bool], low: int, high: int) -> int:
    """Largest integer P in [low, high] with ``passes(P)``, assuming a monotone predicate.

    Doubles from ``low`` to bracket the first failure, then bisects: O(log P) evaluations.
    Returns ``low - 1`` if ``passes(low)`` is false.
    """
    if not passes(low):
        return low - 1
    good, bad = low, None
    while bad is None:
        trial = min(2 * good, high)
        if trial == good:
            return good
        if passes(trial):
            good = trial
        else:
            bad = trial
    while bad - good > 1:
        middle = (good + bad) // 2
        if passes(middle):
            good = middle
        else:
            bad = middle
    return good


def moving_frames(images: np.ndarray, length: int, canvas: int, rng: np.random.Generator,
                  clip_length: int = 20, n_objects: int = 2) -> np.ndarray:
    """Binarised (±1) frames of ``n_objects`` images bouncing on a ``canvas²`` frame, (length, canvas²).

    Moving-MNIST construction (Srivastava, Mansimov & Salakhutdinov 2015): each clip of
    ``clip_length`` frames draws new images, start positions and integer velocities
    (``|v| ∈ {1, 2}`` px/frame per axis), reflects at the borders, superposes by max and
    thresholds at half the maximum intensity.
    """
    side = images.shape[-1]
    room = canvas - side
    clips = []
    for start in range(0, length, clip_length):
        count = min(clip_length, length - start)
        chosen = images[rng.integers(len(images), size=n_objects)]
        position = rng.integers(0, room + 1, size=(n_objects, 2))
        velocity = rng.choice([-2, -1, 1, 2], size=(n_objects, 2))
        times = np.arange(count)[:, None, None]
        path = position + velocity * times  # reflect into [0, room]
        period = 2 * room if room > 0 else 1
        path = np.abs((path % period + period) % period)
        path = np.where(path > room, period - path, path)
        clip = np.zeros((count, canvas, canvas))
        for obj in range(n_objects):
            for t in range(count):
                r, c = path[t, obj]
                window = clip[t, r : r + side, c : c + side]
                np.maximum(window, chosen[obj], out=window)
        clips.append(clip)
    frames = np.concatenate(clips).reshape(length, canvas * canvas)
    return np.where(frames > 0.5, 1.0, -1.0)


def _collapse(indices: np.ndarray) -> np.ndarray:
    """Remove consecutive repeats (the visiting order without dwell times)."""
    indices = np.asarray(indices)
    return indices[np.concatenate([[True], indices[1:] != indices[:-1]])]


@lru_cache(maxsize=1)
def _digit_images() -> np.ndarray:
    """scikit-learn's 8 × 8 digits scaled to [0, 1] (ships with the package)."""
    from sklearn.datasets import load_digits

    return load_digits().images / 16.0


@lru_cache(maxsize=1)
def _fashion_images(folder: Path) -> np.ndarray:
    """Fashion-MNIST test images (28 × 28, [0, 1]) from the IDX files in ``folder``."""
    from .datasets import read_idx

    return read_idx(folder / "t10k-images-idx3-ubyte.gz") / 255.0
