"""HKube algorithm wrapper for Python (standard library only; msgpack is used when importable).

Run it as ``python -m hkube_wrapper`` with ``WORKER_SOCKET_URL``, ``ALGORITHM_PATH`` and
``ALGORITHM_ENTRY_POINT`` set; see ``__main__.py``.
"""

__version__ = "0.1.0"
