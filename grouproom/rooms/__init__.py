"""The domain: rooms, the participants in them, and who may enter.

Pure logic: nothing here knows about sockets, JSON or RTP.
"""
