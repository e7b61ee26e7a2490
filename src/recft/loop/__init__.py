"""The recursive loop: a run feeding its cycles, one cycle, the gate, the registry, versions, history and figures."""
