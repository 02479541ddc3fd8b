"""The pure parts of fair shares: who a client is, its rooms and seats, and `sync` pacing."""

from __future__ import annotations

import pytest

from asgi_mmo.addresses import client_address, trusted_networks
from asgi_mmo.exceptions import ConfigError
from asgi_mmo.fairshare import SWEEP_SECONDS, AddressShares
from asgi_mmo.settings import Settings
from asgi_mmo.syncpace import SyncPacer

PROXIES = trusted_networks(["127.0.0.1", "10.0.0.0/8"])


def scope(peer: str, *headers: tuple[str, str]) -> dict[str, object]:
    return {"client": (peer, 5000), "headers": [(k.encode(), v.encode()) for k, v in headers]}


# ---- who a client is -------------------------------------------------------------------


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_says() -> None:
    assert client_address(scope("203.0.113.7", ("x-forwarded-for", "198.51.100.1")), ()) == "203.0.113.7"
    assert client_address(scope("127.0.0.1", ("forwarded", "for=198.51.100.1")), ()) == "127.0.0.1"


def test_a_peer_that_is_no_trusted_proxy_cannot_name_another_client() -> None:
    assert client_address(scope("203.0.113.7", ("x-forwarded-for", "198.51.100.1")), PROXIES) == "203.0.113.7"


def test_a_trusted_proxy_names_the_client_from_the_right() -> None:
    # The client wrote 1.1.1.1 itself; haproxy (127.0.0.1) appended the peer it saw, via a 10.x hop.
    forwarded = ("x-forwarded-for", "1.1.1.1, 198.51.100.9, 10.1.2.3")
    assert client_address(scope("127.0.0.1", forwarded), PROXIES) == "198.51.100.9"
    split = scope("127.0.0.1", ("x-forwarded-for", "1.1.1.1"), ("X-Forwarded-For", "198.51.100.9:4444"))
    assert client_address(split, PROXIES) == "198.51.100.9"
    assert client_address(scope("127.0.0.1"), PROXIES) == "127.0.0.1"  # no header: the proxy itself
    assert client_address(scope("127.0.0.1", ("x-forwarded-for", "10.0.0.5")), PROXIES) == "10.0.0.5"


def test_forwarded_is_read_before_x_forwarded_for() -> None:
    headers = (("forwarded", 'for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"'),
               ("x-forwarded-for", "198.51.100.1"))
    assert client_address(scope("10.9.9.9", *headers), PROXIES) == "2001:db8:cafe::/64"
    assert client_address(scope("10.9.9.9", ("forwarded", "for=unknown")), PROXIES) == "unknown"


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() -> None:
    one = client_address(scope("2001:db8:1:2:aaaa::1"), ())
    assert one == client_address(scope("2001:db8:1:2:bbbb::9"), ()) == "2001:db8:1:2::/64"
    assert client_address(scope("::ffff:192.0.2.1"), ()) == "192.0.2.1"
    assert client_address({"client": None}, ()) == "unknown"


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert Settings(trusted_proxies=("127.0.0.1", "10.0.0.0/8", "::1")).trusted_proxies
    assert Settings().trusted_proxies == ("127.0.0.1", "::1")
    assert Settings.from_env({"ASGI_MMO_TRUSTED_PROXIES": "none"}).trusted_proxies == ()
    with pytest.raises(ConfigError, match="ASGI_MMO_TRUSTED_PROXIES"):
        Settings(trusted_proxies=("haproxy",))
    with pytest.raises(ConfigError, match="ASGI_MMO_TICK_BUDGET"):
        Settings(tick_budget=1.5)


# ---- rooms a minute --------------------------------------------------------------------


def test_rooms_a_minute_per_address_then_one_more_every_interval() -> None:
    shares = AddressShares(rooms_per_minute=60, seats_per_address=200, seat_seconds=30)
    assert all(shares.allow_room("a", 0.0) for _ in range(60))
    assert not shares.allow_room("a", 0.0)
    assert shares.room_wait("a") == pytest.approx(1.0)
    assert shares.allow_room("b", 0.0)  # another address has its own
    assert shares.allow_room("a", 1.0) and not shares.allow_room("a", 1.0)
    assert AddressShares(0, 0, 30).allow_room("a", 0.0)  # 0: no limit


# ---- seats -----------------------------------------------------------------------------


class Rooms:
    """The registry's answer to "is this seat still held here?"."""

    def __init__(self) -> None:
        self.seats: dict[str, set[str]] = {}

    def __call__(self, room_id: str, player_id: str) -> bool | None:
        seats = self.seats.get(room_id)
        return None if seats is None else player_id in seats


def test_seats_per_address_count_until_freed() -> None:
    rooms = Rooms()
    rooms.seats["r"] = set()
    shares = AddressShares(rooms_per_minute=60, seats_per_address=3, seat_seconds=30)
    for number in range(3):
        hold = shares.take_seat("a", 0.0, rooms)
        assert hold is not None
        shares.seated(hold, "r", f"p{number}")
        rooms.seats["r"].add(f"p{number}")
    assert shares.take_seat("a", 0.0, rooms) is None
    assert shares.take_seat("b", 0.0, rooms) is not None
    shares.away("r", "p0", 1.0, leave=False)  # kept for a reconnect: still counts
    assert shares.take_seat("a", 2.0, rooms) is None
    rooms.seats["r"].discard("p0")  # its time ran out
    hold = shares.take_seat("a", 3.0, rooms)
    assert hold is not None
    shares.cancel(hold)  # the join failed
    shares.away("r", "p1", 4.0, leave=True)  # `leave` frees it at once
    assert shares.seats_held("a", 4.0, rooms) == 1


def test_a_seat_of_another_process_counts_until_its_seat_time_after_it_went_away() -> None:
    shares = AddressShares(rooms_per_minute=60, seats_per_address=1, seat_seconds=30)
    elsewhere = Rooms()
    hold = shares.take_seat("a", 0.0, elsewhere)
    assert hold is not None
    shares.seated(hold, "remote", "p")
    shares.away("remote", "p", 10.0, leave=False)
    assert shares.take_seat("a", 39.0, elsewhere) is None
    shares.connected("remote", "p")  # resumed (maybe from another address): held again
    assert shares.take_seat("a", 100.0, elsewhere) is None
    shares.away("remote", "p", 100.0, leave=False)
    assert shares.take_seat("a", 130.5, elsewhere) is not None


def test_idle_addresses_are_forgotten() -> None:
    rooms = Rooms()
    shares = AddressShares(rooms_per_minute=60, seats_per_address=5, seat_seconds=30)
    for number in range(1000):
        address = f"10.0.{number // 256}.{number % 256}"
        shares.allow_room(address, 0.0)
        hold = shares.take_seat(address, 0.0, rooms)
        assert hold is not None
        shares.seated(hold, "gone", address)
        shares.away("gone", address, 0.0, leave=False)
    assert shares.addresses == 1000
    shares.sweep(SWEEP_SECONDS + 31, rooms)
    assert shares.addresses == 0


# ---- sync ------------------------------------------------------------------------------


def test_sync_is_answered_once_a_second_and_a_sooner_one_later() -> None:
    pacer = SyncPacer(1.0)
    assert pacer.ask(10.0) == 0.0
    assert pacer.ask(10.02) == pytest.approx(0.98)
    assert pacer.ask(10.05) is None  # shares the answer on its way
    assert pacer.ask(10.09) is None
    pacer.answered(11.0)
    assert pacer.ask(11.5) == pytest.approx(0.5)
    pacer.answered(12.0)
    assert pacer.ask(13.5) == 0.0
    assert SyncPacer(0.0).ask(1.0) == SyncPacer(0.0).ask(1.0) == 0.0
