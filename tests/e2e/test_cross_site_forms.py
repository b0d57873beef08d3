"""Referrer-Policy no-referrer and the CSRF origin check, in real Chromium: with no
Referer and `Origin: null` on this server's own forms, a therapist still logs in,
creates a group and adds a member (Chromium's Sec-Fetch-Site says same-origin);
a page of another origin (another port on the same host: the same *site*, so the
SameSite=Strict login cookie goes along) that auto-submits a POST to grouproom,
even carrying the therapist's valid form token, is refused."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Request

from tests.e2e.conftest import Server, end_by_closing_stdin
from tests.e2e.test_therapy_session import PASSWORD, add_therapist

pytestmark = pytest.mark.e2e

OTHER_PORT = 18081

ATTACKER_PAGE = """<!doctype html>
<html><body onload="document.forms[0].submit()">
<form method="post" action="{target}">
  <input type="hidden" name="csrf" value="{csrf}">
  <input type="hidden" name="name" value="{group}">
  <input type="hidden" name="language" value="en">
  <input type="hidden" name="rules" value="Planted by another site.">
</form></body></html>
"""


def test_own_forms_work_and_another_origins_post_is_refused(
    chromium: Browser, server: Server, netns: str, tmp_path: Path
) -> None:
    email = f"lea-{uuid.uuid4().hex[:8]}@example.org"
    add_therapist(server, email, "Lea")
    context = chromium.new_context(locale="en-US")
    posts: list[Request] = []

    def record(request: Request) -> None:
        if request.method == "POST":
            posts.append(request)

    context.on("request", record)
    try:
        page = context.new_page()
        response = page.goto(f"{server.base_url}/login")
        assert response is not None and response.headers["referrer-policy"] == "no-referrer"
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_url(f"{server.base_url}/groups")

        page.fill("#group-name", "Own form group")
        page.fill("#group-rules", "We keep it here.")
        page.click("#create-group-button")
        page.wait_for_selector("#group-title")
        page.fill("#member-name", "Anna")
        page.click("#add-member-button")
        page.wait_for_selector("#roster .member-name:has-text('Anna')")
        # Each of those posts went without a Referer and with Origin: null.
        own_posts = [request for request in posts if request.url.startswith(server.base_url)]
        assert len(own_posts) == 3
        for request in own_posts:
            headers = request.all_headers()
            assert "referer" not in headers and headers.get("origin") == "null", headers

        page.goto(f"{server.base_url}/groups")
        csrf = page.locator('#new-group-form input[name="csrf"]').input_value()
        folder = tmp_path / "other-site"
        folder.mkdir()
        (folder / "index.html").write_text(
            ATTACKER_PAGE.format(
                target=f"{server.base_url}/groups", csrf=csrf, group="Planted group"
            )
        )
        other = subprocess.Popen(
            [
                *("ip", "netns", "exec", netns, sys.executable, "-u", "-m", "http.server"),
                *("--bind", "127.0.0.1", "--directory", str(folder), str(OTHER_PORT)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert other.stdout is not None
            assert "Serving HTTP" in other.stdout.readline()
            refused = page.expect_response(f"{server.base_url}/groups")
            with refused as answer:
                page.goto(f"http://127.0.0.1:{OTHER_PORT}/index.html")
            assert answer.value.status == 403
            sent = answer.value.request.all_headers()
            assert sent.get("origin") == f"http://127.0.0.1:{OTHER_PORT}"
            assert sent.get("sec-fetch-site") == "same-site"  # same host: the cookie went too
            page.wait_for_selector("#message:has-text('form has expired')", timeout=20000)
        finally:
            other.terminate()
            end_by_closing_stdin(other, 10)

        page.goto(f"{server.base_url}/groups")
        groups = page.locator("#groups").inner_text()
        assert "Own form group" in groups and "Planted group" not in groups
    finally:
        context.close()
