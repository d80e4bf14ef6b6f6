"""What builds tells the layers above it. Builds never imports algorithms: `algorithms`
connects its receiver in `AlgorithmsConfig.ready()`."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once per build that completed, inside the transaction that marks the Build row
# `completed` (so a receiver's failure rolls the completion back with its own writes).
# Keyword arguments:
#   build_id: str; algorithm_name: str;
#   descriptor: dict[str, Any]  (the algorithm as applied, kept on the Build row);
#   version: str  (the new version's id); code_path: str; env_path: str  (local builds);
#   image: str  (cluster builds: the pushed image, also the descriptor's `algorithmImage`;
#   code_path and env_path are empty then).
# The receiver creates the version, and makes it current as HKube does.
build_completed = Signal()
