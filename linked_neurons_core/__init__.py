"""The Keras-free core of linked_neurons: the experiment table and its
activations, files and locks, run summaries, early stopping, provenance.

Nothing here imports Keras, a backend or `linked_neurons` at import (the
layers' package imports Keras, as their registration needs), so that the
workflow's light jobs and the Snakefile load it in a fraction of a second.
"""
