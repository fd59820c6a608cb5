"""The annotation page: people label the samples the champion was least sure about.

``server.create_app`` builds the Starlette app (its module docstring documents the JSON API),
``cli.annotate_command`` serves it, ``render`` decides how a payload is shown, ``labelsets`` holds
the labels each use case accepts; ``api`` (handlers), ``guard`` (token, body limits), ``uploads``
(file checks), ``lookup`` (read-only queries) and ``pages`` (HTML) keep each concern small.

Nothing here imports Dagster itself: the page runs as its own process beside the asset graph.
(``resources.annotation_store`` still pulls Dagster in for its resource class, which makes the
app's start-up slower than it needs to be; moving that class out would fix it.)
"""
