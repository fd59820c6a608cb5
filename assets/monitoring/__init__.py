"""Champion monitoring as plain functions (live quality, drift inputs, drift tests); no Dagster."""
