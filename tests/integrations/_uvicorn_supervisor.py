"""uvicorn's own worker supervisor, run as ``uvicorn --workers`` runs it, for the tests.

Usage: ``python -m _uvicorn_supervisor APP FD WORKERS``. Serves ``APP`` on the listening
socket ``FD`` until SIGTERM, then prints each worker's exit code as a JSON list: the
command line does not tell how its workers ended.
"""

from __future__ import annotations

import json
import sys

from uvicorn import Config
from uvicorn.supervisors import Multiprocess


def main(argv: list[str]) -> None:
    app, fd, workers = argv[0], int(argv[1]), int(argv[2])
    config = Config(app, fd=fd, workers=workers, log_level="warning")
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    print(json.dumps([process.exitcode for process in supervisor.processes]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
