"""The AI-tweets dashboard: for business users, the tweets the champion called AI, their links, and a
chart of the sites those links point to, filtered by probability and date.

``server.create_app`` builds the read-only Starlette app (its module docstring documents the JSON
API), ``cli.dashboard_command`` serves it, ``tables`` reads and filters the two Parquet tables the
tweets assets write under ``<FLYWHEEL_HOME>/tables/tweets``. ``static/`` holds the page: plain HTML,
CSS and JavaScript with an inline-SVG chart, no build step and nothing fetched from elsewhere.

Nothing here imports Dagster: the page runs as its own process beside the asset graph and only reads
what the assets wrote.
"""
