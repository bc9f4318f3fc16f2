"""Linked neurons for Keras 3, and Batch Renormalization with its warm-up.

Reference: Riera et al., "Solving internal covariate shift in deep learning
with linked neurons", arXiv:1712.02609 (2017).
"""

from linked_neurons.activations import relu
from linked_neurons.activations import swish
from linked_neurons.layers import LKSELU
from linked_neurons.layers import BatchRenormalization
from linked_neurons.layers import Linked
from linked_neurons.layers import LKPReLU
from linked_neurons.layers import LKReLU
from linked_neurons.layers import LKSwish

__version__ = "0.1.0"

__all__ = [
    "BatchRenormalization",
    "LKPReLU",
    "LKReLU",
    "LKSELU",
    "LKSwish",
    "Linked",
    "relu",
    "swish",
]
