"""The pages of the web client: the start page, the room page, a health check."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from grouproom.rooms.room_id import is_valid_room_id

NOT_FOUND_PAGE = """<!doctype html>
<html lang="nl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Niet gevonden / Not found</title>
</head>
<body>
<main>
<h1>Deze kamer bestaat niet</h1>
<p>Controleer de link die u heeft gekregen.</p>
<h1 lang="en">This room does not exist</h1>
<p lang="en">Please check the link you were given.</p>
<p><a href="/">Naar de startpagina / To the start page</a></p>
</main>
</body>
</html>
"""


def room_not_found() -> web.Response:
    return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html")


class Pages:
    def __init__(self, web_root: str | Path, open_rooms: bool = True) -> None:
        self.web_root = Path(web_root)
        self.open_rooms = open_rooms

    def _file(self, name: str) -> web.StreamResponse:
        path = self.web_root / name
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def index(self, request: web.Request) -> web.StreamResponse:
        if not self.open_rooms:  # members come by invite link; therapists log in
            raise web.HTTPFound("/login")
        return self._file("index.html")

    async def room(self, request: web.Request) -> web.StreamResponse:
        if not self.open_rooms or not is_valid_room_id(request.match_info["room"]):
            return room_not_found()
        return self._file("room.html")

    async def session(self, request: web.Request) -> web.StreamResponse:
        """A member's or observer's invite link: the session page, which checks the
        token over the WebSocket and shows a clear message when it does not work."""
        return self._file("session.html")

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok", headers={"Cache-Control": "no-store"})
