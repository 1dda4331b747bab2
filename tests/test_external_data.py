"""The external test data (third-party automata, busy-beaver lists, tag systems, ProsQA) is where the tests read it.

It is not part of the repository (each file keeps its own licence; shared/data/README.md lists the sources): the tests
read it from ``$EXACTFORMER_DATA`` or from ``shared/data`` beside the repository
(:func:`exactformer.languages.data_dir`). Without it the tests that use it fail, naming the missing file, rather than
skip; this test says where it is looked for.
"""

from __future__ import annotations

from exactformer.languages import data_dir

#: One file from each data set a test reads.
NEEDED = (
    "busy_beaver/champions.json",
    "tag_systems/tag_systems.json",
    "prosqa/prosqa_test.json",
    "tomita/tomita_dfas.json",
    "mlregtest/counts.tsv",
    "other_dfa_suites/stamina_example/target.adl",
)


def test_the_external_test_data_is_where_the_tests_read_it():
    root = data_dir()
    missing = [p for p in NEEDED if not (root / p).is_file()]
    assert not missing, (
        f"external test data missing under {root}: {', '.join(missing)}; put the data folder at shared/data beside "
        "the repository or set EXACTFORMER_DATA to it (README.md, Test)"
    )
