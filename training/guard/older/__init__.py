"""The older learned layers (hashed n-gram linear heads, the MiniLM embedding layer): corpus and training.

Build time only, moved out of the runtime package; `python -m training.guard.older.run` rebuilds their weights.
"""
