"""The recursive loop: gate, registry, versions, the cycle, its history and figures."""
