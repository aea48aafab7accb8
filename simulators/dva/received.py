"""Moved: what providers received through Delen is the source system's, see
``simulators.provider.received``. These names stay importable from here for older code."""

from simulators.provider.received import KINDS, SHARED_BY, ReceivedStore, ShareRefused, Stored

__all__ = ["KINDS", "SHARED_BY", "ReceivedStore", "ShareRefused", "Stored"]
