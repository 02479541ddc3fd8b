"""Per-address shares of the server: rooms made a minute and seats held (pure; the caller
passes the time).

`AddressShares` counts, per client address (`addresses.py`), the rooms it made
(a token bucket: `rooms_per_minute` at once, refilled at that rate) and the seats
it holds: a seat taken through this process counts from the join until it is freed
(`leave`, expiry, its room gone), its time kept for a reconnect included. Counting
is per process: in a cluster each process counts the seats taken through it.

Whether a seat is still held is asked of the caller (`SeatHeld`): the registry
knows for the rooms of this process. For a room of another process it says None,
and the seat counts until `seat_seconds` after its player went away.
Addresses with nothing counted are forgotten (`sweep`), so the tables stay as big
as the clients that hold something.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: (room id, player id) -> the seat is held (True), gone (False), or not known here (None)
SeatHeld = Callable[[str, str], bool | None]
SWEEP_SECONDS = 60.0


@dataclass(slots=True, eq=False)
class Hold:
    """One seat an address holds; `room_id` is empty while its join is under way."""

    address: str
    room_id: str = ""
    player_id: str = ""
    away_since: float | None = None  # None while its player is connected (or joining)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class AddressShares:
    def __init__(self, rooms_per_minute: int, seats_per_address: int, seat_seconds: float) -> None:
        """A limit of 0 is no limit."""
        self.rooms_per_minute = rooms_per_minute
        self.seats_per_address = seats_per_address
        self.seat_seconds = seat_seconds
        self._rooms: dict[str, _Bucket] = {}
        self._holds: dict[str, list[Hold]] = {}
        self._by_seat: dict[tuple[str, str], Hold] = {}
        self._swept = 0.0

    # ---- rooms ------------------------------------------------------------------------

    def allow_room(self, address: str, now: float) -> bool:
        """One room more for `address`; False when it made its minute's worth already."""
        limit = self.rooms_per_minute
        if not limit:
            return True
        bucket = self._rooms.get(address)
        if bucket is None:
            bucket = self._rooms[address] = _Bucket(float(limit), now)
        bucket.tokens = min(float(limit), bucket.tokens + (now - bucket.updated) * limit / 60.0)
        bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def room_wait(self, address: str) -> float:
        """Seconds until `address` may make a room again (0 if it may now)."""
        bucket = self._rooms.get(address)
        if not self.rooms_per_minute or bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) * 60.0 / self.rooms_per_minute

    # ---- seats ------------------------------------------------------------------------

    def take_seat(self, address: str, now: float, held: SeatHeld) -> Hold | None:
        """A hold for a new seat of `address`, or None when it holds its limit already.

        Pass the hold to `seated` once the join gave a seat, or to `cancel` if it failed."""
        hold = Hold(address)
        if not self.seats_per_address:
            return hold  # not counted: `seated` and the rest find nothing to do
        self.sweep(now, held)
        holds = self._holds.setdefault(address, [])
        for gone in [hold for hold in holds if not self._still_held(hold, now, held)]:
            self._drop(gone)
        if len(holds) >= self.seats_per_address:
            return None
        holds.append(hold)
        return hold

    def seats_held(self, address: str, now: float, held: SeatHeld) -> int:
        return sum(1 for hold in self._holds.get(address, ()) if self._still_held(hold, now, held))

    def seated(self, hold: Hold, room_id: str, player_id: str) -> None:
        hold.room_id, hold.player_id = room_id, player_id
        if self.seats_per_address:
            self._by_seat[(room_id, player_id)] = hold

    def cancel(self, hold: Hold | None) -> None:
        if hold is not None:
            self._drop(hold)

    def connected(self, room_id: str, player_id: str) -> None:
        """The seat's player is connected (a resume, through any address)."""
        hold = self._by_seat.get((room_id, player_id))
        if hold is not None:
            hold.away_since = None

    def away(self, room_id: str, player_id: str, now: float, *, leave: bool) -> None:
        """The seat's player went away: `leave` frees the seat, else it is kept for a while."""
        hold = self._by_seat.get((room_id, player_id))
        if hold is None:
            return
        if leave:
            self._drop(hold)
        else:
            hold.away_since = now

    def sweep(self, now: float, held: SeatHeld) -> None:
        """At most once in `SWEEP_SECONDS`: forget seats no longer held and idle addresses."""
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        for address, holds in list(self._holds.items()):
            for hold in [hold for hold in holds if not self._still_held(hold, now, held)]:
                self._drop(hold)
            if not holds:
                self._holds.pop(address, None)
        full = float(self.rooms_per_minute)
        for address, bucket in list(self._rooms.items()):
            if bucket.tokens + (now - bucket.updated) * full / 60.0 >= full:
                del self._rooms[address]

    @property
    def addresses(self) -> int:
        """Addresses with anything counted (for tests and the curious)."""
        return len(self._holds.keys() | self._rooms.keys())

    def _still_held(self, hold: Hold, now: float, held: SeatHeld) -> bool:
        if not hold.room_id:
            return True  # joining
        here = held(hold.room_id, hold.player_id)
        if here is not None:
            return here
        return hold.away_since is None or now - hold.away_since < self.seat_seconds

    def _drop(self, hold: Hold) -> None:
        holds = self._holds.get(hold.address)
        if holds is not None:
            try:
                holds.remove(hold)
            except ValueError:
                pass
        if hold.room_id and self._by_seat.get((hold.room_id, hold.player_id)) is hold:
            del self._by_seat[(hold.room_id, hold.player_id)]
