"""The lifecycle with the Dagster instance and MLflow's backend store on Postgres and the disaster
cleaning on the Spark standalone cluster: the suite's promotion test, unchanged."""

from __future__ import annotations

import pytest
from test_disaster_lifecycle import (  # noqa: F401 - collected here: runs against the cluster
    test_lifecycle_promotes_first_refuses_worse_and_rolls_back,
)

pytestmark = pytest.mark.cluster
