"""The executor's tick in three steps (called by `algorithms.executor.reconcile`).

- `observe.py` reads what is: registered workers (Redis), queue depths over all of kombu's
  priority lists, the algorithms' requests, holdings, the budget, into a `Snapshot`;
- `decide.py` is a pure function of that snapshot: which workers to start (with their
  resources and GPU devices), which to stop, which are lost, why an algorithm waits;
- `act.py` applies the `Plan` through a `launcher.Launcher` and writes the Redis documents.

Capacity (the budget) is an input of `decide`: a Kubernetes launcher will read it from the
cluster instead of this machine.
"""
