"""A run and its cycles, using the gate, storage and intake: candidates, judging, decisions, the incumbent, exports."""
