"""Queue names, named once."""

ENGINE = "engine"  # the pipeline driver: start jobs, react to node completion
CONTROL = "control"  # the executor (worker scaling); also Celery's default queue
BUILDS = "builds"  # code builds; never block the engine
EVENTS = "events"  # webhooks and pipeline triggers; a slow receiver blocks nothing else


def algorithm_queue(algorithm_name: str) -> str:
    """Each algorithm has its own queue, consumed by its algorithm workers."""
    return f"algorithm.{algorithm_name}"
