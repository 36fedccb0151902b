"""Worked examples shipped with changelake: a document transform and the index body it goes with.

A transform of your own is any importable ``module:function``; an index body any JSON file.
"""
