"""bioplausible: biologically plausible local learning rules as rate and spiking circuits.

>>> import bioplausible as bpl
>>> task = bpl.tasks.StatisticalAdaptation(n_inputs=4)
>>> circuit = bpl.circuits.InterneuronWhitening(learning_rate=0.01)
>>> result = bpl.run(circuit, task, substrate="rate", seed=0, progress=False)
"""

__version__ = "0.1.0"

from . import circuits, rules, substrates, tasks  # noqa: E402
from .errors import DivergenceError  # noqa: E402
from .experiments.compare import compare  # noqa: E402
from .experiments.probes import KernelProbe, Probe  # noqa: E402
from .experiments.results import Result, load_result  # noqa: E402
from .experiments.run import run  # noqa: E402

__all__ = [
    "circuits", "rules", "substrates", "tasks", "run", "compare", "Probe", "KernelProbe", "Result", "load_result",
    "DivergenceError",
]
