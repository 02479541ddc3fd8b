"""Room recordings: the file format (`format`), where they are kept (`store`), and the
recorder that writes them while a room runs (`recorder`). docs/replays.md has the format."""

from asgi_mmo.replays.format import FORMAT, VERSION, read_recording
from asgi_mmo.replays.recorder import Recordings
from asgi_mmo.replays.store import RecordingStore

__all__ = ["FORMAT", "VERSION", "Recordings", "RecordingStore", "read_recording"]
