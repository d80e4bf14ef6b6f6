"""Reading stored values for task inputs: decoded objects cached by path.

Used wherever an item's input is resolved from storage: the algorithm worker
(`algorithms/runtime/runner.py`) and the output nodes the driver runs itself
(`pipelines/outputs.py`). Plain Python: only the storage package.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from storage import Storage, encoding


class ValueCache:
    """Decoded storage objects by path: a chunk of a batch reads its parent once."""

    def __init__(self, storage: Storage, max_items: int = 256, max_bytes: int = 64 << 20) -> None:
        self.storage = storage
        self.items: OrderedDict[str, Any] = OrderedDict()
        self.max_items = max_items
        self.max_bytes = max_bytes

    def read(self, path: str) -> Any:
        if path in self.items:
            self.items.move_to_end(path)
            return self.items[path]
        data = self.storage.adapter.get_bytes(path)
        value = encoding.decode(data, self.storage.encoding)
        if len(data) <= self.max_bytes:
            self.items[path] = value
            if len(self.items) > self.max_items:
                self.items.popitem(last=False)
        return value
