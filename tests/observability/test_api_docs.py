"""The API docs work on a machine without internet: every script, style and image they
load comes from this server."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def _referenced(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    # Swagger UI's page also names URLs inside its inline script (the schema, the bundles).
    inline = re.findall(r"""["'`]((?:https?:)?//[^"'`\s]+|/static/[^"'`\s]+)["'`]""", page)
    return parser.urls + inline


@pytest.mark.parametrize("page", ["/swagger/", "/redoc/"])
def test_docs_pages_load_only_same_origin_files_and_those_files_are_served(
    client: Client, db: None, page: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    urls = _referenced(response.content.decode())
    foreign = [u for u in urls if re.match(r"^(https?:)?//", u) and not u.startswith("http://testserver/")]
    assert foreign == []
    assets = [u for u in urls if u.startswith("/static/")]
    assert any(u.endswith(".js") for u in assets), urls
    for url in assets:
        served = client.get(url)
        assert served.status_code == 200, url
        assert b"".join(served.streaming_content) if served.streaming else served.content  # type: ignore[attr-defined]


def test_the_openapi_document_stays_at_its_old_addresses(client: Client, db: None) -> None:
    for url in ("/swagger-api", "/api/v1/openapi.json"):
        assert client.get(url).status_code == 200


def test_the_admins_static_files_are_still_served_and_unknown_ones_are_refused(
    client: Client, db: None
) -> None:
    assert client.get("/static/admin/css/base.css").status_code == 200
    assert client.get("/static/admin/css/no-such-file.css").status_code == 404
    outside = client.get("/static/../hkube_site/settings.py")
    assert outside.status_code in (400, 404) and b"SECRET_KEY" not in outside.content
