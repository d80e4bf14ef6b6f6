"""The admin as the control room for pipelines and jobs (one module per concern)."""

from pipelines.admin import events, jobs, stored

__all__ = ["events", "jobs", "stored"]
