"""The care providers' source systems, as the DVAs that serve them see them.

``SourceSystem`` is the interface a DVA uses (``simulators.provider.source``); ``ProviderSource``
the sandbox's implementation over the synthetic population (``simulators.population``, Nictiz
reference folders included) and the shares PGOs wrote (``simulators.provider.received``);
``SourceRecord`` one patient's resources for one gegevensdienst. Nothing here knows OAuth or
HTTP: the DVA decides who may read or write, the source system only holds the data.
"""

from simulators.provider.received import ReceivedStore, ShareRefused, Stored
from simulators.provider.record import SourceRecord
from simulators.provider.source import ProviderSource, SourceSystem, source_for

__all__ = ["ProviderSource", "ReceivedStore", "ShareRefused", "SourceRecord", "SourceSystem",
           "Stored", "source_for"]
