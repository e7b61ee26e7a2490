"""The recursive loop: the gate's statistics, storage, intake, and the orchestration that uses them, in that order."""
