"""The issue's before/after table from two runs of tests/peers with LLMSIGHT_PEERS_TABLE set:

    python tests/peers/table.py before.jsonl after.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.peers.test_peers import FIELDS  # noqa: E402


def load(path: str) -> dict[str, dict[str, bool]]:
    with open(path) as lines:
        return {entry["source"]: entry["fields"] for entry in map(json.loads, lines)}


def main(before_path: str, after_path: str) -> None:
    before, after = load(before_path), load(after_path)
    print("| source | " + " | ".join(FIELDS) + " |")
    print("|---|" + "---|" * len(FIELDS))
    mark = {True: "right", False: "WRONG", None: "-"}
    for source in after:
        cells = [f"{mark[before.get(source, {}).get(f)]} → {mark[after[source].get(f)]}" for f in FIELDS]
        print(f"| {source} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
