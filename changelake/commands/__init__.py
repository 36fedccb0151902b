"""One module per group of CLI verbs."""
