"""What the loop keeps: the registry of versions, the artifacts it owns, history.jsonl and the serving index."""
