"""A merge against the real link table (relay/store/lua/merge.lua, workers/merges.py's step):
the surviving record takes the one customer its records name; two customers are a conflict
that writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from relay.store import Store
from relay.store.links import Merged

S, M1, M2 = "hubspot:company:1", "hubspot:company:2", "hubspot:company:3"
A, B = "cus_aaaa", "cus_bbbb"


@dataclass(frozen=True)
class Case:
    before: dict[str, str]
    merged: list[str]
    outcome: Merged
    after: dict[str, str] = field(default_factory=dict)  # the link table afterwards (default: before)


CASES = [
    pytest.param(Case({}, [M1], Merged("none")), id="nothing linked: nothing to move"),
    pytest.param(
        Case({M1: A}, [M1], Merged("moved", M1, A), {M1: A, S: A}), id="the merged record's link moves"
    ),
    pytest.param(Case({S: A}, [M1], Merged("kept", S, A)), id="the survivor keeps its own"),
    pytest.param(Case({S: A, M1: A, M2: A}, [M1, M2], Merged("kept", S, A)), id="all name one customer"),
    pytest.param(
        Case({M1: A, M2: A}, [M1, M2], Merged("moved", M1, A), {M1: A, M2: A, S: A}), id="merged ones agree"
    ),
    pytest.param(
        Case({S: A, M1: B}, [M1], Merged("conflict", S, A, M1, B)), id="survivor and merged disagree"
    ),
    pytest.param(
        Case({M1: A, M2: B}, [M1, M2], Merged("conflict", M1, A, M2, B)), id="two merged ones disagree"
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_merge(case: Case, with_store: Callable[[Callable[[Store], Awaitable[Any]]], Any]) -> None:
    async def work(store: Store) -> tuple[Merged, dict[str, str]]:
        await store.links.add(case.before)
        merged = await store.links.merge(S, case.merged)
        return merged, await store.links.all()

    outcome, after = with_store(work)

    assert outcome == case.outcome
    assert after == (case.after or case.before)
