"""The pages, static files and headers of the HTTP side."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from grouproom.http.security_headers import SECURITY_HEADERS


def assert_security_headers(headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]


async def test_the_start_page(http: TestClient[Any, Any]) -> None:
    response = await http.get("/")
    assert response.status == 200
    assert "index page" in await response.text()
    assert response.content_type == "text/html"
    assert_security_headers(response.headers)


@pytest.mark.parametrize("room", ["demo", "group-7", "x" * 64])
async def test_a_room_link_serves_the_room_page(http: TestClient[Any, Any], room: str) -> None:
    response = await http.get(f"/r/{room}")
    assert response.status == 200
    assert "room page" in await response.text()
    assert_security_headers(response.headers)


@pytest.mark.parametrize("room", ["Demo", "a_b", "a.b", "x" * 65, "caf%C3%A9", "a%20b"])
async def test_an_invalid_room_link_is_a_404_page(http: TestClient[Any, Any], room: str) -> None:
    response = await http.get(f"/r/{room}")
    assert response.status == 404
    text = await response.text()
    assert "Deze kamer bestaat niet" in text and "This room does not exist" in text
    assert "<script" not in text
    assert_security_headers(response.headers)


async def test_static_files(http: TestClient[Any, Any]) -> None:
    response = await http.get("/static/app.js")
    assert response.status == 200
    assert "ready" in await response.text()
    assert_security_headers(response.headers)
    missing = await http.get("/static/missing.js")
    assert missing.status == 404
    assert_security_headers(missing.headers)


async def test_static_files_stay_inside_the_web_root(http: TestClient[Any, Any]) -> None:
    response = await http.get("/static/../conftest.py")
    assert response.status in (403, 404)
    response = await http.get("/static/%2e%2e/%2e%2e/etc/passwd")
    assert response.status in (403, 404)


async def test_healthz(http: TestClient[Any, Any]) -> None:
    response = await http.get("/healthz")
    assert response.status == 200
    assert await response.text() == "ok"
    assert_security_headers(response.headers)


async def test_unknown_paths_are_404_with_headers(http: TestClient[Any, Any]) -> None:
    response = await http.get("/nothing-here")
    assert response.status == 404
    assert_security_headers(response.headers)
