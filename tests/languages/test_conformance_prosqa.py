"""ProsQA conformance: all 800 test + valid problems load as ReachabilityQuery objects (which validates that exactly
one candidate is reachable), the target is reachable at the stated distance (``len(steps)`` hops) and the
distractor is not; the hop distribution matches data/prosqa/NOTES.md."""

from __future__ import annotations

from collections import Counter

import networkx as nx
import pytest

from exactformer.languages import bfs_layers, data_dir, load_prosqa

ROOT = data_dir() / "prosqa"

HOPS = {"test": {3: 202, 4: 217, 5: 69, 6: 12}, "valid": {3: 124, 4: 133, 5: 36, 6: 7}}


@pytest.mark.parametrize("split", ["test", "valid"])
def test_every_problem_loads_with_the_stated_distance(split):
    import json

    records = json.loads((ROOT / f"prosqa_{split}.json").read_text())
    queries = load_prosqa(split)
    assert len(queries) == len(records) == {"test": 500, "valid": 300}[split]
    hops = Counter()
    for record, q in zip(records, queries):
        assert q.answer == record["target"] and q.negative == record["neg_target"] and q.root == record["root"]
        assert q.graph.number_of_edges() == len({tuple(e) for e in record["edges"]})
        d = len(record["steps"])
        layers = bfs_layers(q.graph, q.root)
        assert q.answer in layers[min(d, len(layers) - 1)] and (d == 0 or q.answer not in layers[d - 1])
        assert q.negative not in layers[-1]
        assert nx.shortest_path_length(q.graph, q.root, q.answer) == d == q.distance
        hops[d] += 1
    assert dict(hops) == HOPS[split]
