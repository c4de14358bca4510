"""Predictors in simulated time: a prediction stage in front of the router, and refits."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from odma_sim.engine.request import Request
from odma_sim.predictors.base import FeatureTable, Predictor


class PredictionStage:
    """Arriving requests wait here until the predictor has estimated their length."""

    def __init__(self, predictor: Predictor, forward: Callable[[Request], None]) -> None:
        self.predictor = predictor
        self.forward = forward
        self.queue: deque[Request] = deque()
        self.in_flight: list[Request] = []
        self.wakeup: simpy.Event | None = None

    def abandon(self) -> list[Request]:
        """End of a run without drain: everything waiting for a prediction."""
        out = self.in_flight + list(self.queue)
        self.in_flight, self.queue = [], deque()
        return out

    def submit(self, req: Request) -> None:
        self.queue.append(req)
        if self.wakeup is not None and not self.wakeup.triggered:
            self.wakeup.succeed()


def predictor_process(env: simpy.Environment, stage: PredictionStage) -> Generator[
        Any, Any, None]:
    """Take up to ``batch_size`` queued requests, spend the predictor's latency on them,
    then hand them on with their predictions. Idle until something arrives."""
    p = stage.predictor.params
    while True:
        if not stage.queue:
            stage.wakeup = env.event()
            yield stage.wakeup
            stage.wakeup = None
            continue
        batch = [stage.queue.popleft() for _ in range(min(p.batch_size, len(stage.queue)))]
        stage.in_flight = batch
        delay = p.latency_s + p.per_request_s * len(batch)
        if delay > 0:
            yield env.timeout(delay)
        stage.in_flight = []
        for req, pred in zip(batch, stage.predictor.predict(batch), strict=True):
            req.predicted_output_tokens = pred.length_tokens
            req.uncertainty = pred.uncertainty
            req.predicted_s = env.now
            stage.forward(req)


class LabelLog:
    """Labelled requests in completion order, history first: what refits learn from."""

    def __init__(self, history: FeatureTable) -> None:
        self.history = history
        self._rows: list[tuple[int, int, int, int]] = []
        self._text: list[str] = []
        self.new_since_fit = 0

    def add(self, req: Request) -> None:
        self._rows.append((req.id, req.prompt_tokens, req.task, req.output_tokens))
        self._text.append(req.text or "")
        self.new_since_fit += 1

    def window(self, n: int) -> FeatureTable:
        if not self._rows:
            return self.history.tail(n)
        a = np.array(self._rows[-n:], dtype=np.int64)
        text = self._text[-n:] if self.history.text is not None else None
        recent = FeatureTable(a[:, 0], a[:, 1], a[:, 2], a[:, 3], text)
        if len(recent) >= n:
            return recent
        return self.history.tail(n - len(recent)).concat(recent)


def refit_process(env: simpy.Environment, predictor: Predictor, log: LabelLog, period_s: float,
                  window: int, min_new: int, done: simpy.Event,
                  record: Callable[[float, int], None]) -> Generator[Any, Any, None]:
    """Every ``period_s``, refit on the ``window`` most recent labels if at least
    ``min_new`` arrived since the last fit. Ends when the run's requests are done."""
    while True:
        yield env.any_of([env.timeout(period_s), done])
        if done.triggered:
            return
        if log.new_since_fit >= min_new:
            data = log.window(window)
            predictor.refit(data)
            log.new_since_fit = 0
            record(env.now, len(data))
