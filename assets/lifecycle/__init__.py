"""The model lifecycle every use case shares: frozen holdout, challenger, evaluation, gate, champion."""
