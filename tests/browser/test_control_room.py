"""A user's walk through the admin in a real browser, in order: log in, apply an algorithm
from a tar.gz and watch its build log, store a pipeline with an error and read HKube's
message next to the field, fix it, run it and watch the graph reach completed, read a
task's log and result, stop a long job, and open Swagger UI with the network cut off.

The steps share one logged-in page and what earlier steps made (`walk`), so they run in
the order written. Every page is screenshotted into tests/browser/artifacts/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PASSWORD, USER
from tests.e2e.algorithms import make_archive, python
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e

ALGORITHM = "br-nap"
PIPELINE = "br-naps"
# Sleeps its first input's seconds when that is a number, prints, answers what it did.
NAP = python(
    "import time",
    "def start(args):",
    "    first = args['input'][0]",
    "    seconds = first if isinstance(first, (int, float)) else 0",
    "    print(f'napping {seconds} s', flush=True)",
    "    time.sleep(seconds)",
    "    return {'slept': seconds}",
)
BROKEN = f"""\
name: {PIPELINE}
nodes:
  - nodeName: nap
    algorithmName: {ALGORITHM}
    input: ["@flowInput.seconds"]
  - nodeName: after
    algorithmName: {ALGORITHM}
    input: ["@nowhere"]
flowInput:
  seconds: 0
"""
FIXED = BROKEN.replace('"@nowhere"', '"@nap"')
BUILD_TIMEOUT_MS = 240_000
JOB_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def walk() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def page(site: Cluster, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=site.base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def expect(page: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(page)


def test_1_log_in_to_the_admin(page: Any, artifacts: Path) -> None:
    page.goto("/admin/login/")
    shot(page, artifacts, "01-login")
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    assert page.url.endswith("/admin/")
    shot(page, artifacts, "02-admin-home")


def test_2_apply_an_algorithm_from_a_tar_gz_and_watch_its_build_log(
    page: Any, artifacts: Path, tmp_path: Path, walk: dict[str, Any]
) -> None:
    archive = make_archive(tmp_path / "code", NAP.files, tmp_path / "nap.tar.gz")
    page.goto("/admin/algorithms/algorithm/add/")
    descriptor = json.loads(page.input_value("#id_descriptor_text"))
    assert descriptor["mem"] == "256Mi" and descriptor["cpu"] == 0.1  # HKube's defaults, shown
    page.fill("#id_descriptor_text", json.dumps({**descriptor, "name": ALGORITHM, "entryPoint": "main.py"}))
    page.set_input_files("#id_code", str(archive))
    shot(page, artifacts, "03-algorithm-apply")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text(
        re.compile("a build was triggered due to first algorithm update", re.IGNORECASE)
    )
    page.click("#hk-build-link")
    expect(page.locator("#build-status")).to_have_text("completed", timeout=BUILD_TIMEOUT_MS)
    expect(page.locator("#build-progress-text")).to_have_text("100%")
    assert page.locator("#build-log").inner_text().strip(), "the build log is empty"
    shot(page, artifacts, "04-build-log")


def test_3_a_pipeline_with_an_error_shows_hkubes_message_next_to_the_field(
    page: Any, artifacts: Path
) -> None:
    page.goto("/admin/pipelines/pipeline/add/")
    page.fill("#id_descriptor_text", BROKEN)
    page.click("input[name=_continue]")
    error = page.locator(".field-descriptor_text .errorlist")
    expect(error).to_be_visible()
    text = error.inner_text()
    assert "nowhere" in text and "after" in text, text
    shot(page, artifacts, "05-pipeline-error")

    page.fill("#id_descriptor_text", FIXED)
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator("#graph g.node")).to_have_count(2)
    shot(page, artifacts, "06-pipeline-graph-preview")


def test_4_run_it_and_watch_the_graph_reach_completed(
    page: Any, artifacts: Path, walk: dict[str, Any]
) -> None:
    page.click("#hk-run")
    page.fill("#id_flow_input", '{"seconds": 1}')
    shot(page, artifacts, "07-run-form")
    page.click("input[name=_run]")
    expect(page.locator("#job-status")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#graph g.node-succeed")).to_have_count(2)
    walk["job_id"] = re.search(r"/job/([^/]+)/change/", page.url).group(1)  # type: ignore[union-attr]
    shot(page, artifacts, "08-job-completed")
    page.goto(f"/jobs/{walk['job_id']}/")
    expect(page.locator("#job-status")).to_have_text("completed")
    expect(page.locator("#graph g.node-succeed")).to_have_count(2)
    shot(page, artifacts, "09-job-page")


def test_5_read_a_tasks_log_and_the_result(page: Any, artifacts: Path, walk: dict[str, Any]) -> None:
    page.goto(f"/admin/pipelines/job/{walk['job_id']}/change/")
    page.click("#hk-tasks")
    node_cell = page.locator("td.field-node_name", has_text=re.compile(r"^nap$"))
    page.locator("#result_list tbody tr").filter(has=node_cell).locator("th a").click()
    expect(page.locator(".hk-log")).to_contain_text("napping 1 s")
    expect(page.locator(".hk-result")).to_contain_text('"slept": 1')
    shot(page, artifacts, "10-task-log-and-result")

    results = page.request.get(f"/api/v1/exec/results/{walk['job_id']}").json()
    assert results["status"] == "completed"


def test_6_stop_a_long_job(page: Any, artifacts: Path) -> None:
    page.goto("/admin/pipelines/pipeline/")
    page.click(f"#result_list a:text-is('{PIPELINE}')")
    page.click("#hk-run")
    page.fill("#id_flow_input", '{"seconds": 300}')
    page.click("input[name=_run]")
    expect(page.locator("#graph g.node-active")).to_have_count(1, timeout=JOB_TIMEOUT_MS)
    page.click("#hk-stop")
    expect(page.locator(".messagelist")).to_contain_text("stopped")
    expect(page.locator("#job-status")).to_have_text("stopped")
    shot(page, artifacts, "11-job-stopped")


def test_7_swagger_ui_works_with_the_network_cut_off(site: Cluster, browser: Any, artifacts: Path) -> None:
    context = browser.new_context(base_url=site.base_url)
    refused: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(site.base_url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    page = context.new_page()
    page.goto("/swagger/")
    expect(page.locator(".swagger-ui .info .title")).to_be_visible()
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    shot(page, artifacts, "12-swagger-offline")
    context.close()
    assert refused == []
