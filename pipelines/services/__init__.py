"""Every state change of stored pipelines and jobs goes through this package.

Status changes are compare-and-swap (`filter(status__in=old).update(...)`), and act only
when a row changed, so a redelivered Celery message does nothing twice. Messages are
published after commit (`transaction.on_commit`). Only public names are exported; the
modules' `_`-prefixed helpers are theirs.
"""

from pipelines.services.algorithm_usage import (
    RemovedUsage,
    pipelines_using,
    remove_algorithm_pipelines,
    running_jobs_using,
)
from pipelines.services.cleaning import clean_job_storage, clean_jobs
from pipelines.services.common import audit_user, cluster, job_graph
from pipelines.services.control import pause_job, rerun_job, resume_job, run_algorithm, run_from_node
from pipelines.services.driver import (
    any_parents,
    check_tolerance,
    chunk_indices,
    items_ended,
    node_failed_unexpectedly,
    node_finished,
    start_job,
)
from pipelines.services.ending import assemble_results, stop_children, stop_job, stop_jobs
from pipelines.services.experiments import (
    DEFAULT_EXPERIMENT,
    check_experiment_exists,
    create_experiment,
    delete_experiment,
    get_experiment,
    list_experiments,
)
from pipelines.services.expiry import expire_jobs
from pipelines.services.holding import is_held, job_ended, release_held_jobs
from pipelines.services.job_queue import (
    Page,
    add_preferred,
    queue_aggregation,
    queue_count,
    queue_page,
    remove_preferred,
)
from pipelines.services.pipeline_versions import (
    alias_pipeline_version,
    apply_pipeline_version,
    delete_pipeline_version,
    get_pipeline_version,
    list_pipeline_versions,
)
from pipelines.services.readmes import delete_readme, get_readme, write_readme
from pipelines.services.stalled import restart_stalled_jobs
from pipelines.services.status import result_object, status_data, status_object
from pipelines.services.stored import (
    delete_pipeline,
    merge_stored,
    set_pipeline_triggers,
    store_pipeline,
    update_pipeline,
)
from pipelines.services.stream_run import dispatch_stream_job, stream_algorithms, stream_task_ended
from pipelines.services.stream_scale import (
    StreamNode,
    add_replicas,
    median_throughput,
    running_stream_jobs,
    stop_replicas,
    stream_nodes,
)
from pipelines.services.submit import enqueue_start, exec_answer, load_flow_input, submit_job

__all__ = [
    "DEFAULT_EXPERIMENT",
    "Page",
    "RemovedUsage",
    "StreamNode",
    "add_preferred",
    "add_replicas",
    "alias_pipeline_version",
    "any_parents",
    "apply_pipeline_version",
    "assemble_results",
    "audit_user",
    "check_experiment_exists",
    "check_tolerance",
    "chunk_indices",
    "clean_job_storage",
    "clean_jobs",
    "cluster",
    "create_experiment",
    "delete_experiment",
    "delete_pipeline",
    "delete_pipeline_version",
    "delete_readme",
    "dispatch_stream_job",
    "enqueue_start",
    "exec_answer",
    "expire_jobs",
    "get_experiment",
    "get_pipeline_version",
    "get_readme",
    "is_held",
    "items_ended",
    "job_ended",
    "job_graph",
    "list_experiments",
    "list_pipeline_versions",
    "load_flow_input",
    "median_throughput",
    "merge_stored",
    "node_failed_unexpectedly",
    "node_finished",
    "pause_job",
    "pipelines_using",
    "queue_aggregation",
    "queue_count",
    "queue_page",
    "release_held_jobs",
    "remove_algorithm_pipelines",
    "remove_preferred",
    "rerun_job",
    "restart_stalled_jobs",
    "result_object",
    "resume_job",
    "run_algorithm",
    "run_from_node",
    "running_jobs_using",
    "running_stream_jobs",
    "set_pipeline_triggers",
    "start_job",
    "status_data",
    "status_object",
    "stop_children",
    "stop_job",
    "stop_jobs",
    "stop_replicas",
    "store_pipeline",
    "stream_algorithms",
    "stream_nodes",
    "stream_task_ended",
    "submit_job",
    "update_pipeline",
    "write_readme",
]
