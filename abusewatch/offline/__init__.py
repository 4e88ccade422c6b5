"""Offline tools: training, evaluation, simulation, replay, benchmarks, the demo. Runtime code never imports these."""
