"""A thin REST client for the HKube api-server, with HKube's URL building and error envelope."""

from __future__ import annotations

import json
import re
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3 import encode_multipart_formdata

API_VERSION_PATH = "api/v1/"
KEYCLOAK_WELL_KNOWN = "/hkube/keycloak/realms/master/.well-known/openid-configuration"
START_HINT = "python manage.py up"

# (connect, read) seconds. Uploads of big code archives and slow stores need a long read.
DEFAULT_TIMEOUT = (10.0, 300.0)
# The api-server rate-limits /api (5 requests a second by default). A 429 means the
# request was refused before any work was done, so retrying it is safe even for POSTs.
RATE_LIMIT_RETRIES = 8
RATE_LIMIT_SLEEP = 0.5

Files = Sequence[tuple[str, tuple[str | None, bytes | str] | tuple[str | None, bytes | str, str]]]
# Told (bytes sent, bytes in all) as an upload goes out.
Progress = Callable[[int, int], None]


def _form_fields(files: Files) -> list[tuple[str, Any]]:
    """urllib3's multipart fields: a part without a file name is a plain form field."""
    return [(name, part[1] if part[0] is None else part) for name, part in files]


class _UploadBody:
    """A multipart body read out in blocks by http.client, reporting each block sent."""

    def __init__(self, body: bytes, progress: Progress) -> None:
        self._body = body
        self._sent = 0
        self._progress = progress

    def __len__(self) -> int:
        return len(self._body)

    def read(self, size: int = -1) -> bytes:
        end = len(self._body) if size < 0 else self._sent + size
        block = self._body[self._sent : end]
        self._sent += len(block)
        self._progress(self._sent, len(self._body))
        return block


class HkubeError(Exception):
    """Any failure the CLI reports as `error: ...` and exit code 1."""


class ApiError(HkubeError):
    """The server answered with an error status (usually the `{"error": {...}}` envelope)."""

    def __init__(self, status: int, message: str, code: object = None, details: object = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code if code is not None else status
        self.details = details


class ConnectionFailed(HkubeError):
    def __init__(self, url: str):
        super().__init__(f"cannot reach HKube at {url}: is it running? start it with: {START_HINT}")
        self.url = url


def segment(value: str) -> str:
    """Quote a user-provided value (a name, a jobId) for use as one path segment."""
    return quote(value, safe="")


def endpoint_origin(endpoint: str) -> str:
    """`scheme://host:port` of the endpoint. HKube ignores any path inside --endpoint."""
    text = endpoint.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HkubeError(f"invalid endpoint {endpoint!r}: expected something like http://127.0.0.1:8000")
    return f"{parts.scheme}://{parts.netloc}"


def build_url(endpoint: str, path_prefix: str, path: str) -> str:
    """Mirror `new URL(path.join(pathPrefix, "api/v1/", path), endpoint)`, keeping a trailing slash."""
    joined = "/".join(("", path_prefix, API_VERSION_PATH, path))
    return endpoint_origin(endpoint) + re.sub(r"/{2,}", "/", joined)


def _error_from_response(response: requests.Response, method: str) -> ApiError:
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        error = body["error"]
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("name") or f"HTTP {status}")
            return ApiError(status, message, error.get("code"), error.get("details"))
        return ApiError(status, str(error))
    content_type = response.headers.get("Content-Type", "")
    text = response.text.strip()
    if text and "html" not in content_type and len(text) <= 500:
        return ApiError(status, text)
    where = f"{method} {urlsplit(response.url).path}"
    if status in (404, 405):
        # No envelope: the route itself is missing (an older server, or a wrong --pathPrefix).
        return ApiError(status, f"this HKube server does not serve {where}")
    return ApiError(status, f"HTTP {status} {response.reason or ''}".strip() + f" from {where}")


class HkubeClient:
    def __init__(
        self,
        endpoint: str,
        path_prefix: str = "/hkube/api-server/",
        *,
        verify: bool = True,
        verbose: bool = False,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ):
        self.origin = endpoint_origin(endpoint)
        self.path_prefix = path_prefix
        self.verify = verify
        self.verbose = verbose
        self.username = username
        self.password = password
        self.session = session or requests.Session()
        self.timeout = timeout
        # A token given (--token, HKUBE_TOKEN, the config's token) is sent as is; otherwise
        # one may come from a Keycloak login with --username.
        self._token: str | None = token or None
        self._auth_checked = bool(token)
        if not verify:
            # The user asked for no certificate checks; urllib3 would warn on every call.
            warnings.filterwarnings("ignore", message="Unverified HTTPS request")

    def url(self, path: str) -> str:
        return build_url(self.origin, self.path_prefix, path)

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        files: Files | None = None,
        progress: Progress | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        return self.request("POST", path, json_body=body, files=files, progress=progress, params=params)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, json_body=body)

    def delete(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("DELETE", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        files: Files | None = None,
        progress: Progress | None = None,
    ) -> Any:
        url = self.url(path)
        headers = self._auth_headers()
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            response = self._send(
                method,
                url,
                params=params,
                json_body=json_body,
                files=files,
                headers=headers,
                progress=progress,
            )
            if response.status_code != 429 or attempt == RATE_LIMIT_RETRIES:
                break
            time.sleep(RATE_LIMIT_SLEEP * (attempt + 1))
        if response.status_code >= 400:
            raise _error_from_response(response, method)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        json_body: Any,
        files: Files | None,
        headers: dict[str, str],
        progress: Progress | None = None,
    ) -> requests.Response:
        started = time.monotonic()
        if self.verbose:
            print(f"> {method} {url}", file=sys.stderr)
        data: bytes | _UploadBody | None = None
        if files is None and json_body is not None:
            # Serialised here, not by requests, so YAML dates and the like become strings.
            data = json.dumps(json_body, default=str).encode("utf-8")
            headers = {**headers, "Content-Type": "application/json"}
        elif files is not None and progress is not None:
            # Encoded here so the body can be read out block by block, each one reported.
            body, content_type = encode_multipart_formdata(_form_fields(files))
            data, files = _UploadBody(body, progress), None
            headers = {**headers, "Content-Type": content_type}
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                files=files,
                headers=headers,
                verify=self.verify,
                timeout=self.timeout,
            )
        except requests.exceptions.SSLError as exc:
            raise HkubeError(
                f"TLS error talking to {self.origin}: {exc}. "
                "To skip certificate checks use --rejectUnauthorized false"
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise HkubeError(f"HKube at {self.origin} did not answer in time ({method} {url})") from exc
        except requests.exceptions.ConnectionError as exc:
            raise ConnectionFailed(self.origin) from exc
        except requests.exceptions.RequestException as exc:
            raise HkubeError(f"{method} {url} failed: {exc}") from exc
        if self.verbose:
            print(f"< {response.status_code} ({time.monotonic() - started:.2f}s)", file=sys.stderr)
        return response

    def _auth_headers(self) -> dict[str, str]:
        """Log in once per process when a username is set and Keycloak answers, as HKube does."""
        if not self.username or self._auth_checked:
            return {"Authorization": f"Bearer {self._token}"} if self._token else {}
        self._auth_checked = True
        try:
            probe = self.session.get(self.origin + KEYCLOAK_WELL_KNOWN, verify=self.verify, timeout=2)
        except requests.exceptions.RequestException:
            return {}
        if probe.status_code != 200:
            return {}
        answer = self.post("auth/login", {"username": self.username, "password": self.password or ""})
        data = answer.get("data") if isinstance(answer, dict) else None
        token = data.get("access_token") if isinstance(data, dict) else None
        if not token:
            raise HkubeError("login did not return an access token")
        self._token = str(token)
        return {"Authorization": f"Bearer {self._token}"}
