"""Disaster-message triage (36 labels): Spark cleaning and the served multi-label model."""
