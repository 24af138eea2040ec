"""Formulas that more than one stage uses, one module each, at the bottom of the import order with errors and config.

- proportion.py   Wilson's score interval of a share (scipy.stats.binomtest) and the exact McNemar test
- roc.py          ROC AUC, precision, recall, F1 and recall at a false-positive rate (sklearn.metrics)
- hashing.py      SplitMix64's finalizer and the polynomial rolling hash of n-grams, modulo 2^64

Nothing here imports another weightwarden package: eval, guard, watermark and provenance all import from here.
"""
