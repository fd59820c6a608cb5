"""Web apps that sit beside the asset graph and share its stores, but never import Dagster.

They run as their own processes (``flywheel annotate``), so a page for people stays up while runs
come and go, and so a restart of the Dagster daemon never logs an annotator out.
"""
