import sys

from linked_neurons.cli import main

sys.exit(main())
