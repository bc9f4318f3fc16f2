from linked_neurons.layers.batch_renormalization import BatchRenormalization
from linked_neurons.layers.linked import LKSELU
from linked_neurons.layers.linked import Linked
from linked_neurons.layers.linked import LKReLU
from linked_neurons.layers.linked import LKSwish
from linked_neurons.layers.lk_prelu import LKPReLU

__all__ = [
    "BatchRenormalization",
    "LKPReLU",
    "LKReLU",
    "LKSELU",
    "LKSwish",
    "Linked",
]
