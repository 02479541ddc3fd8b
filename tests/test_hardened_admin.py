"""The optional slow-down of wrong admin tokens (`ASGI_MMO_ADMIN_SLOWDOWN_SECONDS`, web/slowdown.py)."""

from __future__ import annotations

from starlette.testclient import TestClient

from asgi_mmo.web.slowdown import FIRST_DELAY_SECONDS, FORGET_SECONDS, WrongTokens
from tests.wsclient import ClientFactory


def test_each_wrong_token_from_one_address_waits_twice_as_long_up_to_the_limit() -> None:
    wrong = WrongTokens(limit_seconds=1.0)
    delays = [wrong.strike("10.0.0.1", now=float(i)) for i in range(6)]
    assert delays == [FIRST_DELAY_SECONDS * 2**i for i in range(4)] + [1.0, 1.0]
    assert wrong.strike("10.0.0.2", now=6.0) == FIRST_DELAY_SECONDS  # another address starts afresh


def test_the_right_token_or_a_long_quiet_forgives_an_address() -> None:
    wrong = WrongTokens(limit_seconds=5.0)
    for i in range(4):
        wrong.strike("10.0.0.1", now=float(i))
    wrong.forgive("10.0.0.1")
    assert wrong.strike("10.0.0.1", now=10.0) == FIRST_DELAY_SECONDS
    wrong.strike("10.0.0.1", now=11.0)
    assert wrong.strike("10.0.0.1", now=12.0 + FORGET_SECONDS) == FIRST_DELAY_SECONDS


def test_many_addresses_are_remembered_within_a_bound() -> None:
    wrong = WrongTokens(limit_seconds=5.0)
    for i in range(12_000):
        wrong.strike(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", now=0.0)
    assert len(wrong._strikes) <= 10_000


def test_with_the_slow_down_on_a_wrong_token_is_still_401_and_the_right_one_200(make_client: ClientFactory) -> None:
    client: TestClient = make_client(admin_token="right", admin_slowdown_seconds=0.2)
    for _ in range(3):
        answer = client.get("/admin/api/rooms", headers={"Authorization": "Bearer wrong"})
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
    assert client.get("/admin/api/rooms", headers={"Authorization": "Bearer right"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
