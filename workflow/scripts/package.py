"""The package's Keras-free modules, for the workflow's light jobs.

`import linked_neurons.experiments.io` runs `linked_neurons/__init__.py`
first, which imports Keras (the layers register themselves with Keras at
import, as its deserialization needs) and costs seconds in every job.
Importing this module first registers a bare `linked_neurons` package whose
path is the checkout's, so that the modules that import neither Keras nor
the layers (`experiments.io`, `.metrics`, `.table`, `.provenance`) load
alone, from the code beside this workflow.
"""

import sys
import types
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "linked_neurons"

if "linked_neurons" not in sys.modules:
    _bare = types.ModuleType("linked_neurons")
    _bare.__path__ = [str(PACKAGE)]
    sys.modules["linked_neurons"] = _bare
