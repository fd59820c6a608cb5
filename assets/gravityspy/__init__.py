"""LIGO Gravity Spy glitch spectrograms (group ``gravityspy``)."""
