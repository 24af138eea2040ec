"""Evaluation: tasks, scorers, suites, the runner, statistics and the paired comparison of two runs."""
