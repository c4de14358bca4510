"""Continuous-batching engine: scheduler, SimPy processes, router and run assembly."""
