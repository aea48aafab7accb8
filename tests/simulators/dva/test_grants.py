"""The DVA's access-token index (issue 17 item 1): expiry by the sandbox clock, revocation per
grant, tokens surviving a restart, and O(1) work per token whatever the number of live tokens.

The complexity tests count what the index visits and the SQL statements an exchange runs;
none of them times anything (timing goals live in benchmarks/token_bench.py and
docs/benchmarks.md).
"""

from __future__ import annotations

import json

import pytest

from simulators.common import clock
from simulators.dva.grants import (
    ACCESS_SECONDS,
    Grant,
    GrantError,
    GrantStore,
    TokenIndex,
)

CLIENT = "pgo-alpha.sandbox.test"
REDIRECT = "http://127.0.0.1/oauth/callback"
SESSION = {"client_id": CLIENT, "provider": "umcsandbox@medmij", "services": '["48"]',
           "scope": "umcsandbox", "patient_index": 3, "redirect_uri": REDIRECT}


@pytest.fixture
def sandbox_clock(tmp_path):
    """The sandbox clock read from ``tmp_path/clock.json``; ``advance(seconds)`` moves it."""
    clock.configure(tmp_path)

    def advance(seconds: float) -> None:
        (tmp_path / "clock.json").write_text(
            json.dumps({"offset_seconds": clock.offset() + seconds}))
        clock.reread()  # written here: this process's clocks look again at once

    yield advance
    clock._path, clock._mtime, clock._offset = None, None, 0.0


@pytest.fixture
def store(tmp_path, sandbox_clock) -> GrantStore:
    s = GrantStore(tmp_path / "dva.sqlite")
    yield s
    s.db.close()


def issue(store: GrantStore, long_lived: bool = False) -> dict:
    """A token response through the real code exchange."""
    return store.exchange_code(store.issue_code(dict(SESSION), long_lived), CLIENT, REDIRECT)


def grant(grant_id: str, last_used: float = 0.0) -> Grant:
    return Grant(grant_id, CLIENT, "umcsandbox@medmij", ("48",), "umcsandbox", 0, False,
                 last_used)


# expiry ------------------------------------------------------------------------------------

def test_index_drops_buckets_whose_span_is_past():
    index = TokenIndex(bucket_seconds=30)
    index.add("a", grant("g1"), expires=10, now=0)
    index.add("b", grant("g1"), expires=40, now=0)
    index.add("c", grant("g2"), expires=70, now=0)
    assert index.expire(now=65) == 2  # buckets [0, 30) and [30, 60) are past
    assert "a" not in index and "b" not in index and "c" in index
    assert index.grants == 1  # g1 held no token any more
    assert index.buckets == 1


def test_expired_token_is_refused_before_its_bucket_is_swept(store, sandbox_clock):
    """The per-lookup check: with buckets too wide to be swept, an expired token still fails."""
    store.index = TokenIndex(bucket_seconds=10 ** 9)
    token = issue(store)["access_token"]
    assert store.access(token) is not None
    sandbox_clock(ACCESS_SECONDS + 1)
    assert store.access(token) is None
    assert token not in store.index


def test_sandbox_clock_moving_on_expires_tokens_from_the_index_and_sqlite_agrees(
        store, sandbox_clock):
    tokens = [issue(store)["access_token"] for _ in range(5)]
    assert len(store.index) == 5
    sandbox_clock(ACCESS_SECONDS + 2 * store.index.bucket_seconds)
    assert store.access(tokens[0]) is None  # the lookup swept every past bucket first
    assert len(store.index) == 0 and store.index.grants == 0 and store.index.buckets == 0
    assert all(store.access(t) is None for t in tokens)  # the SQLite fallback refuses too
    assert len(store.index) == 0


def test_a_token_checked_within_its_life_stays_valid(store, sandbox_clock):
    token = issue(store)["access_token"]
    sandbox_clock(ACCESS_SECONDS - 5)
    assert store.access(token) is not None


# revocation --------------------------------------------------------------------------------

def test_revoking_a_grant_removes_its_tokens_and_only_its_tokens(store):
    first = issue(store, long_lived=True)
    second_of_first = store.refresh(first["refresh_token"], CLIENT)
    other = issue(store, long_lived=True)
    assert len(store.index) == 3 and store.index.grants == 2
    store.revoke_token(first["refresh_token"], CLIENT)  # RFC 7009: the whole consent
    assert len(store.index) == 1 and store.index.grants == 1
    assert store.access(first["access_token"]) is None
    assert store.access(second_of_first["access_token"]) is None
    assert store.access(other["access_token"]) is not None


def test_replayed_refresh_token_drops_the_grants_tokens_from_the_index(store):
    first = issue(store, long_lived=True)
    rotated = store.refresh(first["refresh_token"], CLIENT)
    with pytest.raises(GrantError):
        store.refresh(first["refresh_token"], CLIENT)
    assert first["access_token"] not in store.index
    assert rotated["access_token"] not in store.index
    assert store.access(rotated["access_token"]) is None


def test_revocation_visits_the_grants_tokens_not_all_tokens(store):
    for i in range(5_000):
        store.index.add(f"t{i}", grant(f"g{i}"), expires=clock.now() + 600, now=clock.now())
    target = issue(store, long_lived=True)
    store.refresh(target["refresh_token"], CLIENT)
    before = store.index.touched
    store.revoke_token(target["access_token"], CLIENT)
    assert store.index.touched - before <= 1 + 2  # the grant and its two access tokens
    assert len(store.index) == 5_000


# restart -----------------------------------------------------------------------------------

def test_a_new_store_on_the_same_file_accepts_a_still_valid_token(tmp_path, sandbox_clock):
    first = GrantStore(tmp_path / "dva.sqlite")
    valid = issue(first)["access_token"]
    revoked = issue(first, long_lived=True)
    first.revoke_token(revoked["access_token"], CLIENT)
    first.db.close()

    restarted = GrantStore(tmp_path / "dva.sqlite")
    assert len(restarted.index) == 0  # nothing loaded at start: start-up stays O(1)
    found = restarted.access(valid)
    assert found is not None and found.patient_index == SESSION["patient_index"]
    assert valid in restarted.index  # held from now on
    assert restarted.access(revoked["access_token"]) is None
    assert restarted.access("not-a-token") is None
    sandbox_clock(ACCESS_SECONDS + 1)
    assert restarted.access(valid) is None
    restarted.db.close()


def test_after_a_restart_a_stale_token_is_not_loaded_into_the_index(tmp_path, sandbox_clock):
    first = GrantStore(tmp_path / "dva.sqlite")
    token = issue(first)["access_token"]
    first.db.close()
    sandbox_clock(ACCESS_SECONDS + 1)
    restarted = GrantStore(tmp_path / "dva.sqlite")
    assert restarted.access(token) is None
    assert len(restarted.index) == 0
    restarted.db.close()


# complexity (counted, not timed) -----------------------------------------------------------

class NoScan(dict):
    """A dict that fails the test when anything walks all of it (a cache rebuild would)."""

    def _scan(self, *args):
        raise AssertionError("the token index was scanned")

    __iter__ = items = keys = values = copy = _scan


def fill(store: GrantStore, count: int) -> None:
    now = clock.now()
    for i in range(count):
        store.index.add(f"live{i}", grant(f"live{i}", now), expires=now + 1 + i % 800, now=now)


def exchange_cost(store: GrantStore) -> tuple[int, int]:
    """(index entries touched, SQL statements run) by one code exchange and one check."""
    code = store.issue_code(dict(SESSION), False)
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    before = store.index.touched
    token = store.exchange_code(code, CLIENT, REDIRECT)["access_token"]
    assert store.access(token) is not None
    store.db.set_trace_callback(None)
    return store.index.touched - before, len(statements)


def test_exchange_and_check_touch_the_same_few_entries_at_10_and_20000_live_tokens(store):
    fill(store, 10)
    small = exchange_cost(store)
    fill(store, 20_000)  # the old cache rebuilt itself on every new token from here on
    store.index._tokens = NoScan(store.index._tokens)
    large = exchange_cost(store)
    assert small == large
    touched, statements = large
    assert touched <= 4  # token, grant, bucket on insert; the token on lookup
    assert statements <= 6  # BEGIN, SELECT code+grant, UPDATE code, INSERT token, COMMIT


def test_expiry_costs_each_token_once_amortised(store, sandbox_clock):
    """Sweeping n expired tokens visits n entries in all, and a request finding nothing past
    visits none: expiry is not paid per request."""
    fill(store, 3_000)
    before = store.index.touched
    assert store.access("live0") is not None
    assert store.index.touched - before == 1  # the lookup itself: no sweep, no scan
    sandbox_clock(1_000)
    before = store.index.touched
    assert store.access("live0") is None
    assert store.index.touched - before <= 3_000 + 1
    assert len(store.index) == 0


def test_a_clock_moved_months_ahead_costs_one_pass_over_the_buckets():
    index = TokenIndex(bucket_seconds=30)
    for i in range(100):
        index.add(f"t{i}", grant("g"), expires=i * 9.0, now=0)
    index.expire(now=183 * 24 * 3600)  # no walk over ~500,000 empty buckets
    assert index.touched == 3 * 100 + 100
    assert len(index) == 0 and index.buckets == 0


# purge of expired rows (issue 17: the DVA's SQLite grew without end) -----------------------

def rows(store: GrantStore) -> dict[str, int]:
    return {t: store.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("auth_session", "code", "token", "grant_")}


def test_purge_deletes_what_can_never_be_used_again(store, sandbox_clock):
    store.start_session(CLIENT, REDIRECT, "umcsandbox", "s", "umcsandbox@medmij", ["48"], None,
                        "browser", "csrf")
    short = issue(store)
    long_lived = issue(store, long_lived=True)
    assert rows(store) == {"auth_session": 1, "code": 2, "token": 3, "grant_": 2}
    assert sum(store.purge().values()) == 0  # nothing expired yet: nothing goes
    sandbox_clock(ACCESS_SECONDS + 1)
    store.purge()
    # the session, both codes and both access tokens are gone, and the short-lived grant
    # with them; the long-lived grant keeps its refresh token and still refreshes
    assert rows(store) == {"auth_session": 0, "code": 0, "token": 1, "grant_": 1}
    assert store.access(short["access_token"]) is None
    assert "access_token" in store.refresh(long_lived["refresh_token"], CLIENT)


def test_purge_runs_from_the_write_path_at_most_every_interval(store, sandbox_clock,
                                                               monkeypatch):
    issue(store)
    sandbox_clock(ACCESS_SECONDS + 1)
    store.start_session(CLIENT, REDIRECT, "umcsandbox", "s", "umcsandbox@medmij", ["48"], None,
                        "b", "c")
    assert rows(store)["token"] == 1  # the interval has not passed: no purge yet
    monkeypatch.setattr(store, "_next_purge", 0.0)
    store.start_session(CLIENT, REDIRECT, "umcsandbox", "s", "umcsandbox@medmij", ["48"], None,
                        "b", "c")
    assert rows(store)["token"] == 0 and rows(store)["grant_"] == 0


def test_a_revocation_by_another_process_ends_the_token_here_too(store, tmp_path, monkeypatch):
    """DVA replicas share dva.sqlite; each holds the tokens it checked in memory. A consent
    revoked at one replica must end at the others too (issue 18: swarm --replicas)."""
    from simulators.dva import grants as grants_module

    monkeypatch.setattr(grants_module, "REVOCATION_CHECK_S", 0.0)
    replica = GrantStore(tmp_path / "dva.sqlite")
    try:
        token = issue(store)["access_token"]
        assert replica.access(token) is not None  # now held in the replica's memory
        store.revoke_token(token, CLIENT)
        assert store.access(token) is None
        assert replica.access(token) is None
    finally:
        replica.db.close()
