"""The experiments of the article: the table, the model builder, the runner."""
