"""The executable schema: `schema.graphql` bound to the resolvers of this package."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ariadne import load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema

from graphql_api import catalog, cluster, jobs, queues
from graphql_api.scalars import object_scalar

SDL = Path(__file__).with_name("schema.graphql")


@lru_cache(maxsize=1)
def schema() -> GraphQLSchema:
    return make_executable_schema(
        load_schema_from_path(str(SDL)),
        jobs.query,
        catalog.query,
        queues.query,
        cluster.query,
        jobs.job_type,
        jobs.input_type,
        jobs.metadata_type,
        catalog.pipelines_type,
        catalog.algorithms_type,
        catalog.algorithm_type,
        object_scalar,
    )
