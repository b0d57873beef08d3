"""The media plane: the only package that imports aiortc or av.

It forwards each participant's encoded RTP packets to every other participant of
the same room, never decoding or encoding them. The rest of the server talks to
it through :class:`grouproom.media.forwarder.Forwarder` (one per room).
"""
