"""Sewer-flow anomaly detection (issue 14)."""
