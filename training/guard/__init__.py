"""Build-time code for the guard: gather the corpus, train the encoder heads, evaluate out of source.

Never imported by `warden`; run from the repository root with the package on PYTHONPATH.
"""
