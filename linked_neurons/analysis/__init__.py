"""The article's analysis, Keras-free: intervals for the claims' comparisons."""
