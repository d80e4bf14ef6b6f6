"""The admin as the control room for algorithms: descriptors, code, versions, builds, and
the executor's view of workers and queues."""

from algorithms.admin import descriptors, executor

__all__ = ["descriptors", "executor"]
