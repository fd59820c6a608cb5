"""Weak supervision shared by use cases: labeling functions of any label space to training labels.

Nothing is imported here: :mod:`.weak_supervision` imports Snorkel (and torch through it, lazily).
"""
