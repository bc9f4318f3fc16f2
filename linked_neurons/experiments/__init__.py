"""The experiments of the article: the model builder and the runner (the
table they run is linked_neurons_core.table)."""
