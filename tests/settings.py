"""Settings for the in-process tests: the product's settings with a throw-away home.

Set HKUBE_TEST_DATABASE_URL (e.g. a Postgres server) to run against it; the end-to-end
harness (tests/e2e/harness.py) starts its own processes with their own database.
"""

import os
import tempfile

os.environ.setdefault("HKUBE_HOME", tempfile.mkdtemp(prefix="hkube-test-"))
if os.environ.get("HKUBE_TEST_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["HKUBE_TEST_DATABASE_URL"]

from hkube_site.settings import *  # noqa: F403
