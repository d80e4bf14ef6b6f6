"""Client configuration and the sorting of API errors into retryable and fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from k8s.client import ClientSettings, Fatal, KubeError, Retryable, call, connect, in_cluster, sort_error

NOW = 1_767_000_000.0  # a fixed clock for Retry-After dates


def api_error(
    status: int, reason: str = "", message: str = "", headers: dict[str, str] | None = None
) -> ApiException:
    exc = ApiException(status=status, reason="HTTP reason")
    exc.body = json.dumps({"kind": "Status", "status": "Failure", "reason": reason, "message": message})
    exc.headers = headers or {}
    return exc


@pytest.mark.parametrize(
    ("status", "reason"),
    [(409, "AlreadyExists"), (410, "Expired"), (429, "TooManyRequests"), (500, "InternalError"),
     (503, "ServiceUnavailable"), (504, "Timeout")],
)  # fmt: skip
def test_conflicts_expired_watches_throttling_server_errors_are_retryable(status: int, reason: str) -> None:
    error = sort_error(api_error(status, reason, "try later"))
    assert isinstance(error, Retryable)
    assert (error.status, error.reason, error.message, error.retryable) == (status, reason, "try later", True)


def test_a_quota_403_is_retryable_because_room_will_free_up() -> None:
    message = 'jobs "w-1" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: 9'
    assert isinstance(sort_error(api_error(403, "Forbidden", message)), Retryable)


def test_any_other_403_is_fatal() -> None:
    error = sort_error(api_error(403, "Forbidden", 'User "x" cannot create resource "jobs"'))
    assert isinstance(error, Fatal)
    assert "cannot create" in error.message


@pytest.mark.parametrize(("status", "reason"), [(400, "BadRequest"), (404, "NotFound"), (422, "Invalid")])
def test_invalid_and_missing_are_fatal(status: int, reason: str) -> None:
    error = sort_error(api_error(status, reason, "nope"))
    assert isinstance(error, Fatal)
    assert error.not_found == (status == 404)


def test_retry_after_in_seconds_is_honoured() -> None:
    error = sort_error(api_error(429, headers={"Retry-After": "7"}), now=NOW)
    assert error.retry_after == 7.0


def test_retry_after_as_an_http_date_is_turned_into_seconds() -> None:
    headers = {"retry-after": "Tue, 29 Dec 2025 09:20:12 GMT"}
    error = sort_error(api_error(429, headers=headers), now=1_766_999_982.0)
    assert error.retry_after == pytest.approx(30.0)


def test_an_unreadable_retry_after_is_ignored() -> None:
    assert sort_error(api_error(429, headers={"Retry-After": "soon"})).retry_after is None


def test_a_body_that_is_not_a_status_object_still_gives_a_message() -> None:
    exc = ApiException(status=502, reason="Bad Gateway")
    exc.body = "<html>bad gateway</html>"
    error = sort_error(exc)
    assert isinstance(error, Retryable)
    assert error.message == "<html>bad gateway</html>"


def test_network_failures_are_retryable_and_unknown_errors_fatal() -> None:
    assert isinstance(sort_error(urllib3.exceptions.ProtocolError("connection reset")), Retryable)
    assert isinstance(sort_error(ConnectionRefusedError("refused")), Retryable)
    assert isinstance(sort_error(RuntimeError("boom")), Fatal)


def test_call_raises_the_sorted_error_with_the_original_as_cause() -> None:
    def create() -> None:
        raise api_error(422, "Invalid", 'Job.batch "X" is invalid: metadata.name: Invalid value')

    with pytest.raises(Fatal, match="is invalid") as caught:
        call(create)
    assert isinstance(caught.value.__cause__, ApiException)
    assert call(lambda x: x + 1, 1) == 2


def test_kube_errors_pass_through_unchanged() -> None:
    error = Retryable("already sorted", status=409)
    assert sort_error(error) is error
    assert isinstance(error, KubeError)


def test_outside_a_pod_there_is_no_cluster_account(tmp_path: Path) -> None:
    assert not in_cluster({}, tmp_path)
    assert not in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, tmp_path)
    (tmp_path / "token").write_text("t")
    assert in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, tmp_path)


def test_connect_reads_a_kubeconfig_with_its_namespace_and_sets_timeouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "secret-token"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "pipelines"}},
                     {"name": "other", "context": {"cluster": "c", "user": "u"}}],
    }))  # fmt: skip
    kube = connect(ClientSettings(kubeconfig=str(kubeconfig), connect_timeout=2, read_timeout=10))
    assert kube.namespace == "pipelines"
    assert kube.request_timeout == (2, 10)
    assert kube.api_client.configuration.host == "https://127.0.0.1:6443"
    assert kube.core.api_client is kube.api_client
    other = connect(ClientSettings(kubeconfig=str(kubeconfig), context="other"))
    assert other.namespace == "default"
    assert connect(ClientSettings(kubeconfig=str(kubeconfig), namespace="mine")).namespace == "mine"
