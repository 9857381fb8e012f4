"""Thin command-line entry points: train, evaluate, prepare_data (and their shared cli)."""
