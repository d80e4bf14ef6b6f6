from pipelines.engine import tolerance


def test_js_round_sends_halves_up():
    assert tolerance.js_round(4.5) == 5
    assert tolerance.js_round(4.49) == 4


def test_a_share_below_the_tolerance_is_not_exceeded():
    assert not tolerance.exceeded(449, 10000, 5)
    assert tolerance.exceeded(450, 10000, 5)


def test_no_failure_never_exceeds_even_a_zero_tolerance():
    assert not tolerance.exceeded(0, 10, 0)
    assert tolerance.exceeded(1, 10, 0)


def test_the_message_is_hkubes():
    assert tolerance.failure_message(450, 10000, 5, "boom") == (
        "450/10000 (5%) failed tasks, batch tolerance is 5%, error: boom"
    )
    assert tolerance.failure_message(1, 2, 50, None).endswith("error: task failed")


def test_batch_failure_names_the_failure_that_first_reached_the_tolerance():
    errors = ["first", "second", "third", "fourth"]
    assert tolerance.batch_failure(errors, 10, 30) == (
        "3/10 (30%) failed tasks, batch tolerance is 30%, error: third"
    )


def test_batch_failure_is_none_while_under_the_tolerance():
    assert tolerance.batch_failure(["a", "b"], 10, 30) is None
    assert tolerance.batch_failure([], 10, 0) is None


def test_the_rounded_share_counts_as_hkube_rounds_it():
    # 1/8 = 12.5% rounds up to 13%, which reaches a 13% tolerance.
    assert tolerance.batch_failure(["x"], 8, 13) == "1/8 (13%) failed tasks, batch tolerance is 13%, error: x"


def test_the_default_tolerance_is_80_percent():
    assert tolerance.DEFAULT_BATCH_TOLERANCE == 80
