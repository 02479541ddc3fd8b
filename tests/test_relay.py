import orjson
import pytest

from asgi_mmo.cluster.messages import pack, unpack
from asgi_mmo.names import room_in, room_out, worker_channel


def test_payloads_travel_verbatim_after_the_header():
    body = orjson.dumps({"moves": [["a", 1, 2, 0]], "names": ["Zoë\nline"]}).decode()
    header, payloads = unpack(pack({"t": "tick", "tick": 5}, body, "{}"))
    assert header == {"t": "tick", "tick": 5}
    assert payloads == [body, "{}"]


def test_a_header_alone():
    assert unpack(pack({"t": "moved"})) == ({"t": "moved"}, [])


@pytest.mark.parametrize("data", [b"[1,2]", b'{"no": "t"}', b"not json"])
def test_garbage_is_refused(data):
    with pytest.raises(ValueError):
        unpack(data)


def test_channels_name_their_room_or_worker():
    assert room_in("abc") == "mmo:in:abc"
    assert room_out("abc") == "mmo:out:abc"
    assert worker_channel("host:12") == "mmo:w:host:12"
