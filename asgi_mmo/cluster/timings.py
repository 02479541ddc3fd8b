"""How fast the cluster works: leases, saves, takeovers, calls to a room's owner.

One frozen record that `Cluster` takes, so tests run the same code with
shorter times. The defaults are the production ones (docs/deploy.md, "How
rooms are shared").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClusterTimings:
    #: a room's lease lives this long unless renewed: how long a dead owner holds its rooms
    lease_ms: int = 3000
    #: how often an owner renews its leases (and watches the rooms it relays)
    renew_every: float = 0.5
    #: how often an owner saves its rooms and writes them to the directory
    save_every: float = 1.0
    #: a directory entry not refreshed for this long belongs to a process that is gone
    stale_entry: float = 5.0
    #: a mirror that hears nothing for this long checks whether its room's owner is alive
    takeover_after: float = 1.5
    #: a mirror without players is dropped after this long
    idle_mirror: float = 5.0
    #: how long a room's owner has to answer a join, and a join to get through at all
    rpc_seconds: float = 1.0
    join_seconds: float = 8.0
    #: saved rooms outlive a seat by this much (a room is restored with its seats)
    save_margin_seconds: float = 30.0
