"""Work run in a forked child of the test's process, for the stores' fork tests."""

from __future__ import annotations

import json
import os
from collections.abc import Callable


def in_child(work: Callable[[], dict[str, object]]) -> dict[str, object]:
    """``work`` run in a forked child; what it returned, reported over a pipe (an
    exception is reported as its repr)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            report: dict[str, object] = work()
        except BaseException as exc:
            report, code = {"error": repr(exc)}, 1
        os.write(write, json.dumps(report).encode())
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        got = pipe.read()
    _, status = os.waitpid(pid, 0)
    report = json.loads(got)
    assert os.waitstatus_to_exitcode(status) == 0, report
    return dict(report)
