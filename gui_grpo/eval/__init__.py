"""Evaluation with intervals, and reports."""
