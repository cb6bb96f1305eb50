"""Benchmarks: ours against a reference in one run; a table, then a JSON line of ratios."""
