"""Every flow in one file, for plain ``locust -f loadtests/locustfile.py`` (a mixed morning).

Weights give a plausible mix; ``pgo-sandbox load`` loads one module per flow instead, and the
ceiling and saturation users (``ceiling``, ``search``) are left out here on purpose.
"""

from loadtests.collect import CollectUser
from loadtests.inspection import InspectionUser
from loadtests.longlived import LongLivedUser
from loadtests.pgo import PgoCollectUser
from loadtests.portability import PortabilityExportUser
from loadtests.registry import ListPoller

__all__ = ["CollectUser", "InspectionUser", "ListPoller", "LongLivedUser", "PgoCollectUser",
           "PortabilityExportUser"]
