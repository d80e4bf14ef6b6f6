"""``python -m hkube_wrapper``: connect to the worker and serve the algorithm.

Environment:
- ``WORKER_SOCKET_URL`` (required): ``ws://host:port/<slot>``; the wrapper appends
  ``?storage=v1&encoding=<msgpack|json>&pipelined=1&streamBatch=1`` (and ``&files=1`` with
  msgpack: ``files.py``); ``streamBatch=1``: stream messages many per frame (``streaming.py``).
- ``ALGORITHM_PATH``: folder with the user code; put first on ``sys.path`` and made the cwd.
- ``ALGORITHM_ENTRY_POINT``: module in it, default ``main.py`` (``src/alg.py`` -> ``src.alg``).
- ``WORKER_ALGORITHM_ENCODING``: ``json`` forces JSON text frames; otherwise msgpack when importable.
"""

from __future__ import annotations

import os
import sys

from .codec import choose_codec
from .files import available as files_available
from .loader import load_algorithm
from .runner import Runner


def main() -> int:
    url = os.environ.get("WORKER_SOCKET_URL", "").strip()
    if not url:
        print(
            "hkube_wrapper: WORKER_SOCKET_URL is not set; the worker must pass its ws:// URL", file=sys.stderr
        )
        return 2
    codec = choose_codec()
    url += ("&" if "?" in url else "?") + f"storage=v1&encoding={codec.name}&pipelined=1&streamBatch=1"
    if files_available():
        url += "&files=1"  # big values as files when the storage is a filesystem (files.py)
    entry_point = os.environ.get("ALGORITHM_ENTRY_POINT") or "main.py"
    algorithm, error = load_algorithm(os.environ.get("ALGORITHM_PATH") or None, entry_point)
    return Runner(url, algorithm, error, codec).run()


if __name__ == "__main__":
    sys.exit(main())
