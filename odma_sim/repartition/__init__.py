"""Bucket repartitioning: a pure planner (histogram + dynamic program) and its process."""

from odma_sim.repartition.planner import JointHistogram, Plan, Planner

__all__ = ["JointHistogram", "Plan", "Planner"]
