"""The active-learning loop shared by every streaming use case: Kafka batches → champion scores →
uncertain samples to annotators → labels back into training (pure modules plus their Dagster wiring)."""
