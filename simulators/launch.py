"""Start several nodes as separate processes from one warm parent:
``python -m simulators.launch --config sandbox.json --logs DIR node [node …]``.

The parent imports every role's code and builds the population once, then forks one process
per node (before any thread or event loop exists). Each child is an ordinary, independent
node process with its own port and log; they share the parent's imported code copy-on-write,
so eight nodes start in about the time of one. Prints ``{"node": pid, …}`` as JSON and exits.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from simulators.common.config import SandboxConfig
from simulators.common.people import population_for
from simulators.serve import ROLE_MODULES, serve


def _child(config: SandboxConfig, node_id: str, log_path: Path) -> None:
    os.setsid()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    logging.basicConfig(level=os.environ.get("PGO_SANDBOX_LOG", "info").upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # list polling is not news
    bind = urlsplit(config.addresses[config.topology.node(node_id).hostname])
    serve(config, node_id, bind.hostname, bind.port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("nodes", nargs="+")
    parser.add_argument("--config", required=True)
    parser.add_argument("--logs", required=True)
    args = parser.parse_args(argv)
    config = SandboxConfig.load(args.config)
    roles = {config.topology.node(n).role for n in args.nodes}
    for role in roles:
        importlib.import_module(ROLE_MODULES[role])
    population_for(config)
    logs = Path(args.logs)
    pids = {}
    sys.stdout.flush()
    for node_id in args.nodes:
        pid = os.fork()
        if pid == 0:
            try:
                _child(config, node_id, logs / f"{node_id}.log")
            finally:
                os._exit(0)
        pids[node_id] = pid
    print(json.dumps(pids), flush=True)


if __name__ == "__main__":
    main()
