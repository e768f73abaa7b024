"""The prefix hash is memoised by value: the memo must never change what the hash is."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from llmsight import prefix_hash as module
from llmsight.prefix_hash import prefix_hash


def reference(*parts: Any) -> str:
    present = [part for part in parts if part]
    canonical = json.dumps(present, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


CASES = [
    ([{"role": "system", "content": "You are terse."}], None),
    ([{"role": "system", "content": "You are terse."}], [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
    ([{"a": 1}],),
    ([{"a": 1.0}],),
    ([{"a": True}],),
    ([{"a": None}],),
    (["a"],),
    ([["a"]],),
    ([{"a": "b"}],),
    ([["a", "b"]],),
    ([{"b": 2, "a": 1}],),
]


@pytest.mark.parametrize("parts", CASES)
def test_memoised_hash_equals_the_canonical_json_hash(parts: tuple[Any, ...]) -> None:
    first = prefix_hash(*parts)
    assert first == reference(*parts)
    assert prefix_hash(*parts) == first  # second time: from the memo


def test_values_that_hash_alike_in_python_get_their_own_prefix_hash() -> None:
    hashes = {prefix_hash([{"a": value}]) for value in (1, 1.0, True)}
    assert len(hashes) == 3


def test_non_plain_data_bypasses_the_memo_and_large_inputs_do_not_grow_it() -> None:
    module._memo.clear()
    assert prefix_hash([{1: "x"}]) == reference([{"1": "x"}])  # JSON turns the int key into "1"
    assert not module._memo
    huge = [{"role": "system", "content": [str(i) for i in range(module._FREEZE_MAX_NODES + 10)]}]
    assert prefix_hash(huge) == reference(huge)
    assert not module._memo
    for index in range(module._MEMO_MAX_ENTRIES + 5):
        prefix_hash([{"role": "system", "content": f"prompt {index}"}])
    assert len(module._memo) <= module._MEMO_MAX_ENTRIES


def test_nothing_static_gives_an_empty_hash() -> None:
    assert prefix_hash([], None, "") == ""
