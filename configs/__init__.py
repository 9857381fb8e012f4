"""Experiment configs: one ml_collections file per experiment, `get_config(arg=None)`."""
