import pytest

from pipelines.engine.retry import DEFAULT_LIMIT, Retry, retry_of


def test_a_node_without_retry_gets_oncrash_with_limit_3():
    assert retry_of(None) == Retry("OnCrash", 3) == retry_of({})
    assert DEFAULT_LIMIT == 3


def test_a_partial_retry_keeps_what_was_given():
    assert retry_of({"policy": "Never"}) == Retry("Never", 3)
    assert retry_of({"limit": 5}) == Retry("OnCrash", 5)
    assert retry_of({"policy": "Always", "limit": 0}) == Retry("Always", 0)  # run once, never again


@pytest.mark.parametrize(
    ("policy", "on_crash", "on_error"),
    [("OnCrash", True, False), ("OnError", False, True), ("Always", True, True), ("Never", False, False)],
)
def test_each_policy_retries_its_kind_of_failure(policy, on_crash, on_error):
    retry = Retry(policy)
    assert retry.retries(crashed=True) is on_crash
    assert retry.retries(crashed=False) is on_error
