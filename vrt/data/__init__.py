"""From datasets to batches: the train/fit/val/test splits, batch samplers, loaders, collation.

This package builds on :mod:`vrt.datasets` (which knows nothing of it): datasets describe
videos and cut clips; here they become the splits a run trains, selects and evaluates on.
"""
