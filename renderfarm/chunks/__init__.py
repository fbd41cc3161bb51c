"""Chunks: their messages, records and states, their planning and settlement."""
