"""Measuring a model: retrieval metrics, paired statistics, reports, NevIR, and evaluating one set."""
