"""Medical benchmarks: declarative tasks (tasks.py), their sources, answer extraction and statistics."""
