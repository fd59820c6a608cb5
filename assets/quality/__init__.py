"""Data-quality checks (Great Expectations 1.x, called directly: dagster-ge pins GX < 1)."""
