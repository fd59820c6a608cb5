"""Kits: a whole use case from one declaration, for the common kinds (text, tabular, windows, images).

Each kit builds a :class:`assets.usecase.UseCase` from a small dataclass, so a scaffolded folder
(``flywheel new``) holds only what is particular to it. Not a use case itself: no ``definitions.py``.
"""
