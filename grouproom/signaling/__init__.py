"""The WebSocket edge: turns protocol requests into room and forwarder calls, and
room and forwarder events back into protocol messages."""
