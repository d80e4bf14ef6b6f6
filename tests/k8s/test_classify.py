"""`classify(pod, events)`: a worker pod's state as HKube's outcome, from real pod JSON shapes."""

from __future__ import annotations

import copy
from typing import Any

from k8s.outcomes import IMAGE_MESSAGE, Kind, classify, identity, parse_time

SCHEDULED_AT = "2026-12-06T20:00:00Z"


def pod(
    phase: str = "Running", *, containers: list[dict[str, Any]] | None = None, **status: Any
) -> dict[str, Any]:
    """A worker pod as the API returns it (the shape of HKube's gc-service pod dumps)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "green-alg-ab12c-x7k2p",
            "uid": "0c1f-uid",
            "labels": {"hkube.io/release": "hk", "hkube.io/component": "worker",
                       "hkube.io/algorithm": "green-alg", "hkube.io/worker-id": "green-alg-ab12c",
                       "job-name": "green-alg-ab12c"},
            "annotations": {"hkube.io/algorithm-version": "v3"},
            "ownerReferences": [{"kind": "Job", "name": "green-alg-ab12c", "uid": "j-uid"}],
        },
        "spec": {"containers": [
            {"name": "worker", "image": "hkube/platform:1",
             "env": [{"name": "HKUBE_WORKER_ID", "value": "green-alg-ab12c"}]},
            {"name": "algorunner", "image": "registry/green-alg:v3"},
        ]},
        "status": {"phase": phase, "containerStatuses": containers or [], **status},
    }  # fmt: skip


def running(name: str) -> dict[str, Any]:
    return {"name": name, "ready": True, "state": {"running": {"startedAt": SCHEDULED_AT}}}


def waiting(name: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"name": name, "ready": False, "state": {"waiting": {"reason": reason, "message": message}}}


def terminated(name: str, reason: str, code: int) -> dict[str, Any]:
    return {"name": name, "ready": False, "state": {"terminated": {"reason": reason, "exitCode": code}}}


def test_a_running_pod_means_nothing() -> None:
    assert classify(pod(containers=[running("worker"), running("algorunner")])).kind == Kind.NONE


def test_an_image_pull_failure_carries_hkubes_message_and_the_kubelets_words() -> None:
    text = 'rpc error: code = NotFound desc = "registry/green-alg:v3": not found'
    outcome = classify(
        pod("Pending", containers=[running("worker"), waiting("algorunner", "ErrImagePull", text)])
    )
    assert outcome.kind == Kind.IMAGE_PULL
    assert outcome.container == "algorunner"
    assert outcome.message == (
        'Container - algorunner: rpc error: code = NotFound desc = "registry/green-alg:v3": not found. '
        "please check that your image exists and valid"
    )


def test_back_off_and_invalid_names_are_image_failures_too() -> None:
    for reason in ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"):
        outcome = classify(
            pod("Pending", containers=[waiting("algorunner", reason, "Back-off pulling image")])
        )
        assert outcome.kind == Kind.IMAGE_PULL, reason
        assert outcome.message.endswith(IMAGE_MESSAGE)


def test_a_back_off_without_text_takes_the_failed_events_words() -> None:
    events = [{"reason": "Failed", "message": "Failed to pull image: manifest unknown",
               "lastTimestamp": "2026-12-06T20:00:05Z"}]  # fmt: skip
    outcome = classify(pod("Pending", containers=[waiting("algorunner", "ImagePullBackOff")]), events)
    assert outcome.message.startswith("Container - algorunner: Failed to pull image: manifest unknown.")


def test_the_kubelets_pull_throttle_is_not_a_bad_image() -> None:
    throttled = waiting("algorunner", "ErrImagePull", "pull QPS exceeded")
    assert classify(pod("Pending", containers=[throttled])).kind == Kind.NONE


def test_an_oom_killed_algorunner_is_an_oom_crash() -> None:
    outcome = classify(
        pod(
            "Failed",
            containers=[terminated("worker", "Error", 1), terminated("algorunner", "OOMKilled", 137)],
        )
    )
    assert (outcome.kind, outcome.container) == (Kind.OOM, "algorunner")


def test_an_oom_in_the_last_state_counts() -> None:
    container = running("algorunner")
    container["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    assert classify(pod(containers=[running("worker"), container])).kind == Kind.OOM


def test_a_container_config_error_is_a_crash_naming_the_container() -> None:
    outcome = classify(
        pod(
            "Pending",
            containers=[waiting("algorunner", "CreateContainerConfigError", 'secret "s3" not found')],
        )
    )
    assert outcome.kind == Kind.CRASH
    assert outcome.message == 'Container - algorunner: CreateContainerConfigError: secret "s3" not found'


def test_an_evicted_pod_is_a_crash() -> None:
    outcome = classify(pod("Failed", reason="Evicted", message="The node was low on resource: memory."))
    assert outcome.kind == Kind.CRASH
    assert "Evicted: The node was low on resource: memory." in outcome.message


def test_a_pod_on_a_lost_node_is_a_crash() -> None:
    conditions = [{"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                   "message": "Taint manager: deleting due to NoExecute taint"}]  # fmt: skip
    outcome = classify(pod(containers=[running("worker")], conditions=conditions))
    assert outcome.kind == Kind.CRASH
    assert "NoExecute" in outcome.message


def test_a_deleted_running_pod_is_a_crash_but_a_succeeded_one_finished() -> None:
    assert classify(pod(containers=[running("worker")]), deleted=True).kind == Kind.CRASH
    assert classify(pod("Succeeded"), deleted=True).kind == Kind.FINISHED
    assert classify(pod(containers=[running("worker")])).kind == Kind.NONE


def test_a_failed_pod_says_which_container_exited_how() -> None:
    outcome = classify(
        pod("Failed", containers=[terminated("worker", "Error", 3), terminated("algorunner", "Completed", 0)])
    )
    assert outcome.kind == Kind.CRASH
    assert outcome.message.endswith("failed: worker exited with code 3 (Error)")


def test_an_unschedulable_pod_takes_the_schedulers_event_text_and_since() -> None:
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/2 nodes are available.", "lastTransitionTime": SCHEDULED_AT}  # fmt: skip
    pending = pod("Pending", conditions=[condition])
    events = [
        {"reason": "FailedScheduling", "message": "0/2 nodes are available: 1 Insufficient cpu.",
         "lastTimestamp": "2026-12-06T20:00:01Z"},
        {"reason": "FailedScheduling", "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
         "lastTimestamp": "2026-12-06T20:00:09Z"},
    ]  # fmt: skip
    outcome = classify(pending, events)
    assert outcome.kind == Kind.UNSCHEDULABLE
    assert outcome.message == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    assert outcome.since == parse_time(SCHEDULED_AT)
    assert classify(pending).message == "0/2 nodes are available."


def test_a_pending_pod_being_scheduled_means_nothing_yet() -> None:
    scheduled = {"type": "PodScheduled", "status": "True", "lastTransitionTime": SCHEDULED_AT}
    creating = waiting("algorunner", "ContainerCreating")
    assert classify(pod("Pending", containers=[creating], conditions=[scheduled])).kind == Kind.NONE


def test_identity_prefers_the_exact_worker_id_of_the_env_over_the_label() -> None:
    shaped = pod()
    shaped["metadata"]["labels"]["hkube.io/worker-id"] = "shortened"
    who = identity(shaped)
    assert (who.worker_id, who.algorithm, who.version, who.job) == (
        "green-alg-ab12c",
        "green-alg",
        "v3",
        "green-alg-ab12c",
    )


def test_identity_of_a_job_reads_its_pod_template() -> None:
    template = pod()
    job = {"metadata": {"name": "green-alg-ab12c", "labels": template["metadata"]["labels"]},
           "spec": {"template": {"spec": copy.deepcopy(template["spec"])}}}  # fmt: skip
    assert identity(job).worker_id == "green-alg-ab12c"
    assert identity(job).name == "green-alg-ab12c"
