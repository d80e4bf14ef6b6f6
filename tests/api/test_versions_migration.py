"""The pipelines migration that adds versions gives every pipeline stored before it its
current descriptor as version 1.0.0."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("pipelines", "0003_experiments_readmes")]
AFTER = [("pipelines", "0004_pipeline_versions_preferred_queue")]


@pytest.mark.django_db(transaction=True)
def test_stored_pipelines_get_their_current_version() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("pipelines", "Pipeline")
    old.objects.create(
        name="legacy", descriptor={"name": "legacy", "nodes": []}, version="abc123", modified=5
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps.get_model("pipelines", "PipelineVersion")
    [version] = new.objects.filter(pipeline_name="legacy")
    assert (version.version, version.semver, version.created) == ("abc123", "1.0.0", 5)
    assert version.descriptor == {"name": "legacy", "nodes": []}
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
