"""The monitoring page: for whoever looks after a use case's champion, its health on one page per use
case: the live metric over labelled traffic per model version, input drift per scored batch, the
scoring lag and the label-efficiency curve.

``data`` reads the files other parts of Flywheel write under ``<FLYWHEEL_HOME>/monitoring/<use_case>/``
(tolerating missing or half-written ones), ``server.create_app`` serves them read-only as JSON and
files, ``cli.monitor_command`` is ``flywheel monitor``. ``static/`` holds the page: plain HTML, CSS and
JavaScript with an inline-SVG chart, no build step and nothing fetched from elsewhere.

Nothing here imports Dagster: the page runs as its own process and only reads what was written.
"""
