"""The environment uploaded code runs in: an allow-list of the server's, never all of it.

An algorithm process (and a build step, which runs the upload's setup code and package
scripts) is started by a worker that holds the platform's secrets in its environment:
DATABASE_URL, REDIS_URL with its password, DJANGO_SECRET_KEY, HKUBE_ADMIN_PASSWORD, S3
keys, tokens. Passing the worker's environment on would hand them all to whoever uploaded
the code. So the child gets only what a program needs to run on this machine (paths,
locale, temp folders, GPU selection, the worker's own identity) plus names the operator
lists in HKUBE_ALGORITHM_ENV_ALLOW; build steps also get the package tools' settings
(pip's index, npm's registry, proxies), which a build cannot work without.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

RUNTIME_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
        "TMPDIR", "TMP", "TEMP", "LD_LIBRARY_PATH", "JAVA_HOME",
        "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS",
        # Not secrets: the worker's identity, and which installation this is (a path; tools
        # find an installation's processes by it).
        "HKUBE_WORKER_ID", "HKUBE_WORKER_ALGORITHM", "HKUBE_HOME",
    }
)  # fmt: skip
RUNTIME_PREFIXES = ("LC_",)
BUILD_NAMES = frozenset(
    {
        "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    }
)  # fmt: skip
BUILD_PREFIXES = ("PIP_", "npm_config_", "NPM_CONFIG_")
EXTRA_ENV = "HKUBE_ALGORITHM_ENV_ALLOW"


def _extra_names(environ: Mapping[str, str]) -> set[str]:
    return {n.strip() for n in environ.get(EXTRA_ENV, "").split(",") if n.strip()}


def runtime_env(environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> dict[str, str]:
    """What an algorithm process inherits from ``environ`` (default: this process's)."""
    source = os.environ if environ is None else environ
    allowed = RUNTIME_NAMES | _extra_names(source) | set(extra)
    return {k: v for k, v in source.items() if k in allowed or k.startswith(RUNTIME_PREFIXES)}


def build_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a build step inherits: the runtime's allow-list and the package tools' settings."""
    source = os.environ if environ is None else environ
    env = runtime_env(source)
    env.update({k: v for k, v in source.items() if k in BUILD_NAMES or k.startswith(BUILD_PREFIXES)})
    return env
