"""Benchmarks (`make bench`): each measures one stage or the whole pipeline against a baseline in the same run."""
