"""DVA capacity: a SimPy queue of one peak window per DVA (issue 6, "DVA capacity").

A DVA is `workers` parallel request handlers (a `simpy.Resource`), served first come, first
served. Simulating every request of ten years is out of reach (tens of billions), so the model
samples the busiest hour of each period: up to `max_requests` Poisson arrivals at the peak rate
are queued for real, and when the DVA is overloaded (utilisation > 1) the backlog of the rest of
the hour is added by a fluid approximation. Arrivals and service times are drawn before the
queue is built, from a seed that does not depend on capacity: with the same draws, FCFS with
more workers never delays any request, so more capacity never raises latency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from scenarios.national.params import ServiceTimes

PEAK_SECONDS = 3600.0
TIMEOUT_S = 60.0  # SPEC §3 step 8: a resource request is answered within 60 s


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts scheduled events, to report events per second."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.scheduled = 0

    def schedule(self, event: simpy.Event, priority: int = 1, delay: float = 0) -> None:
        self.scheduled += 1
        super().schedule(event, priority, delay)


@dataclass(frozen=True, slots=True)
class PeakLoad:
    """Request rates (per second) reaching one DVA in its busiest hour, per kind."""

    search_rps: float
    token_rps: float
    flow_rps: float

    @property
    def rps(self) -> float:
        return self.search_rps + self.token_rps + self.flow_rps


@dataclass(frozen=True, slots=True)
class PeakStats:
    """Latency of one DVA in one peak window."""

    rps: float
    workers: int
    utilisation: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    timeout_share: float
    requests: int
    events: int

    def as_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__slots__}


def mean_service_s(load: PeakLoad, service: ServiceTimes) -> float:
    """Mean service time of the request mix."""
    if load.rps <= 0:
        return 0.0
    return (load.search_rps * service.search.mean_s + load.token_rps * service.token.mean_s
            + load.flow_rps * service.flow.mean_s) / load.rps


def _draw(load: PeakLoad, service: ServiceTimes, rng: np.random.Generator,
          max_requests: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Arrival times and service times for one window; capacity plays no part here."""
    window = min(PEAK_SECONDS, max_requests / load.rps)
    n = int(rng.poisson(load.rps * window))
    arrivals = np.sort(rng.uniform(0.0, window, n))
    kinds = rng.choice(3, size=n, p=np.array([load.search_rps, load.token_rps, load.flow_rps])
                       / load.rps)
    services = np.empty(n)
    for k, spec in enumerate((service.search, service.token, service.flow)):
        mask = kinds == k
        services[mask] = spec.sample(rng, int(mask.sum()))
    return arrivals, services, window


class _Request:
    """One FHIR search, token call or flow page: an event chain on the DVA's Resource.

    Not a process: a process per request costs two more events (start and end) for nothing,
    and at a million requests per run that is a third of the run time.


    Give-up (issue 19): the client waits at most `timeout` seconds. A request still queued
    when a worker reaches it after the time-out is dropped without using the worker (the
    client has gone); its latency is recorded as the time-out. A request served late still
    used the worker, but its client saw the time-out, so latency is capped there too.
    """

    __slots__ = ("env", "dva", "index", "arrived", "service", "sojourn", "slot", "timeout")

    def __init__(self, env: simpy.Environment, dva: simpy.Resource, index: int, arrived: float,
                 service: float, sojourn: np.ndarray, timeout: float) -> None:
        self.env, self.dva, self.index, self.arrived = env, dva, index, arrived
        self.service, self.sojourn, self.timeout = service, sojourn, timeout
        self.slot = dva.request()
        self.slot.callbacks.append(self._granted)

    def _granted(self, _: simpy.Event) -> None:
        if self.env.now - self.arrived >= self.timeout:  # the client gave up while queued
            self.sojourn[self.index] = self.timeout
            self.dva.release(self.slot)
            return
        self.env.timeout(self.service).callbacks.append(self._served)

    def _served(self, _: simpy.Event) -> None:
        self.sojourn[self.index] = min(self.env.now - self.arrived, self.timeout)
        self.dva.release(self.slot)


def _queue(arrivals: np.ndarray, services: np.ndarray, workers: int,
           timeout: float = TIMEOUT_S) -> tuple[np.ndarray, int]:
    """Run the requests through `workers` FCFS handlers; returns sojourn times and events."""
    env = CountingEnvironment()
    dva = simpy.Resource(env, capacity=workers)
    sojourn = np.empty(len(arrivals))

    times, costs = arrivals.tolist(), services.tolist()

    def arrive(event: simpy.Event) -> None:  # Poisson arrivals at the peak rate, in order
        i = event.value
        _Request(env, dva, i, times[i], costs[i], sojourn, timeout)
        if i + 1 < len(times):  # an event chain, not a process: no generator to resume
            env.timeout(times[i + 1] - times[i], i + 1).callbacks.append(arrive)

    if times:
        env.timeout(times[0], 0).callbacks.append(arrive)
    env.run()
    return sojourn, env.scheduled


def simulate_peak(load: PeakLoad, service: ServiceTimes, workers: int,
                  seed: np.random.SeedSequence, max_requests: int = 1000,
                  timeout: float = TIMEOUT_S) -> PeakStats:
    """Latency percentiles of one DVA in its busiest hour; latency is capped at `timeout`."""
    rps = float(load.rps)
    if rps <= 0:
        return PeakStats(0.0, workers, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    rng = np.random.default_rng(seed)
    arrivals, services, window = _draw(load, service, rng, max_requests)
    utilisation = rps * mean_service_s(load, service) / workers
    if len(arrivals) == 0:
        return PeakStats(rps, workers, utilisation, 0.0, 0.0, 0.0, 0.0, 0, 0)
    sojourn, events = _queue(arrivals, services, workers, timeout)
    # fluid backlog for the part of the hour not simulated: wait grows as (rho - 1) * t until
    # clients give up; in an overload that lasts, a share 1 - 1/rho of requests must give up
    # for the throughput to match the capacity
    growth = max(0.0, utilisation - 1.0)
    rest = PEAK_SECONDS - window
    pct = {q: min(timeout, float(np.percentile(sojourn, q)) + growth * q / 100 * rest)
           for q in (50, 95, 99)}
    gave_up = float(np.mean(sojourn >= timeout))
    if growth > 0:
        steady = 1.0 - 1.0 / utilisation
        gave_up = max(gave_up, (gave_up * window + steady * rest) / PEAK_SECONDS)
    return PeakStats(rps, workers, utilisation, pct[50] * 1000, pct[95] * 1000, pct[99] * 1000,
                     gave_up, len(arrivals), events)
