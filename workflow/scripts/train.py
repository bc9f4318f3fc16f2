"""The training job's entry point: `linked-neurons train`, started lean.

Keras imports scikit-learn, matplotlib and pandas at `import keras` whenever
they are installed (for its scikit-learn wrappers, image plotting and pandas
inputs), and the pipeline's environment has all three. A training run uses
none of them, and they cost about 0.9 of the 2 s that a job spends starting,
for each of the article's hundred runs. Marking them absent in `sys.modules`
makes their `import` raise ImportError, which Keras handles as "not
installed". (The digits loader finds scikit-learn's data file without
importing it.)

Usage: the same arguments as `python -m linked_neurons`.
"""

import sys
from pathlib import Path

UNUSED = ("sklearn", "matplotlib", "pandas")

if __name__ == "__main__":
    # This directory's scripts (extract, latex, ...) must not shadow modules.
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    for name in UNUSED:
        sys.modules.setdefault(name, None)
    from linked_neurons.cli import main

    sys.exit(main())
