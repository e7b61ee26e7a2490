"""What every stage shares: atomic file writes, consoles, fault-injection points, config resolvers."""
