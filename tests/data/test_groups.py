"""Document groups: queries linked by a chain of shared relevant documents stay together."""

from recft.data.groups import connected_labels, document_groups


def test_a_chain_of_shared_documents_is_one_group_and_isolated_queries_stand_alone():
    relevant = {"q1": ["d1"], "q2": ["d1", "d2"], "q3": ["d2"], "q4": ["d9"], "q5": []}
    assert document_groups(relevant) == [["q1", "q2", "q3"], ["q4"], ["q5"]]


def test_connected_labels_counts_isolated_nodes():
    labels = connected_labels(4, [(0, 2)])
    assert labels[0] == labels[2] and len(set(labels)) == 3
