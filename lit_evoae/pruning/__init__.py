"""Pruning: per-unit activation statistics, pure mask operators and schedules."""
