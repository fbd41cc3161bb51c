"""Benchmarks that print figures measured in one run; they assert nothing."""
