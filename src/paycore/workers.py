"""Worker ids: the name under which a service instance leases the flows it runs.

Two instances that share a worker id take each other's leases for their own, so the
recovery of one steps a flow the other is running (duplicate provider calls). A service
built without a worker id gets one no other instance has.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket

#: Numbers the worker ids this process gives out.
_TAKEN = itertools.count(1)

#: Drawn once per process start: containers of one image may share the host name and
#: each run paycore as PID 1, so name and process id alone can repeat across instances.
_START = secrets.token_hex(4)


def instance_id() -> str:
    """A worker id no other service instance shares: the host's name and the process id
    (read for readers of the leases; a fork has its own), a random part drawn when the
    process started (two containers of one name, each with paycore as PID 1), and the
    number of this instance in its process (several services built in one process)."""
    return f"{socket.gethostname()}-{os.getpid()}-{_START}-{next(_TAKEN)}"
