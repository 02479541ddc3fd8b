"""The garbage collector policy: what lived a while is frozen on schedule, and the sweep
collects the cyclic garbage among the frozen objects after all."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import anyio
import pytest

from asgi_mmo.gcpolicy import GcPolicy


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process's collector as it was


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_frozen_cyclic_garbage_waits_for_the_sweep() -> None:
    gc.unfreeze()
    policy = GcPolicy(freeze_seconds=10, sweep_seconds=600)
    garbage = Cycle()
    alive = weakref.ref(garbage)
    gc.freeze()
    del garbage
    gc.collect()
    assert alive() is not None, "a frozen cycle is out of the collector's reach"
    policy.sweep()
    assert alive() is None and policy.sweeps == 1
    assert gc.get_freeze_count() == 0


async def test_the_policy_freezes_on_schedule() -> None:
    gc.unfreeze()
    policy = GcPolicy(freeze_seconds=0.01, sweep_seconds=0)
    async with anyio.create_task_group() as tasks:
        await tasks.start(policy.run)
        with anyio.fail_after(30):
            while policy.freezes < 2:
                await anyio.sleep(0.01)
        assert gc.get_freeze_count() > 0
        tasks.cancel_scope.cancel()


async def test_no_freeze_seconds_freezes_nothing_more() -> None:
    gc.unfreeze()
    policy = GcPolicy(freeze_seconds=0, sweep_seconds=0)
    async with anyio.create_task_group() as tasks:
        await tasks.start(policy.run)
        await anyio.sleep(0.05)
        assert policy.freezes == 0 and gc.get_freeze_count() == 0
        tasks.cancel_scope.cancel()


async def test_the_young_threshold_holds_while_the_policy_runs_and_is_put_back_after() -> None:
    before = gc.get_threshold()
    policy = GcPolicy(freeze_seconds=0, sweep_seconds=0, young_objects=12_345)
    async with anyio.create_task_group() as tasks:
        await tasks.start(policy.run)
        assert gc.get_threshold() == (12_345, *before[1:])
        tasks.cancel_scope.cancel()
    assert gc.get_threshold() == before


def test_the_young_threshold_is_a_setting() -> None:
    from asgi_mmo.exceptions import ConfigError
    from asgi_mmo.settings import Settings

    assert Settings.from_env({}).gc_young_objects == 10_000
    assert Settings.from_env({"ASGI_MMO_GC_YOUNG_OBJECTS": "0"}).gc_young_objects == 0
    with pytest.raises(ConfigError):
        Settings.from_env({"ASGI_MMO_GC_YOUNG_OBJECTS": "-1"})
