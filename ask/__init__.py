"""Asking the change log: SQL results, item timelines with diffs, and archive statistics."""
