"""AI-tweet relevance with weak supervision: Twitter v1.1 JSON and ``id,text[,label]`` tables → splits →
Snorkel labeling functions → label model → a noise-aware classifier → links of AI tweets.

Plain modules only (no Dagster): ``parsing``, ``splits``, ``labeling_functions``, ``weak_supervision``,
``model``, ``links``. Labels: ``AI = 1`` (about AI / ML / data science), ``OTHER = 0``, ``ABSTAIN = -1``.
"""
