"""Trainers shared by use cases: a text classifier (:mod:`.text`) and a tabular one (:mod:`.tabular`).

Nothing is imported here: the trainer modules import scikit-learn and MLflow, and definitions name
them lazily (``"assets.<uc>.model:TRAINERS"``) so that loading a code location stays cheap.
"""
