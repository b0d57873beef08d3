"""grouproom: a video-room server for online group therapy."""

__version__ = "0.1.0"
