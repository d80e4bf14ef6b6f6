"""HKube's dashboard GraphQL: a read-only schema over the documents the REST API already
produces (jobs, stored pipelines, algorithms, builds, experiments, logs).

This package sits above every app (it reads them all) and below the URLs: see
`.importlinter`. Nothing here changes state.
"""
