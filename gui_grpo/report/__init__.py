"""Reports and the on-disk run format.

- ``trajectories``: episodes on disk (frames the model saw, annotated actions, Step-format JSONL).
- ``runs``: reading evaluation, training and episode directories.
- ``html`` / ``plots`` / ``compare``: the page, its matplotlib plots and two-run comparisons.
- ``build``: ``write_report`` ties them together (``gui-grpo report``).
"""
