"""Stream pipelines at run time: the transport between nodes (``transport``), flow routing
and the algorithm worker's relay (docs/streaming.md)."""
