"""Thin command-line entry points: train, evaluate, prepare_data."""
