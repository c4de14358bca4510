"""Experiment configuration: schema, presets and the strict YAML loader."""

from odma_sim.config.experiment import AllocatorSpec, ExperimentSpec, OutputSpec
from odma_sim.config.loader import LoadedExperiment, build_experiment, load_experiment

__all__ = [
    "AllocatorSpec",
    "ExperimentSpec",
    "LoadedExperiment",
    "OutputSpec",
    "build_experiment",
    "load_experiment",
]
