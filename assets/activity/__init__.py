"""Smartwatch activity recognition (CASAS ArWISE): layouts, cleaning, features, models, generators."""
