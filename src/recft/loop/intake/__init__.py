"""What arrives and where it goes: inbox or schedule, the leakage audit, sealing into golden and dev."""
