"""hkubectl: the HKube command line, a thin client of the api-server REST API."""

__version__ = "0.1.0"
