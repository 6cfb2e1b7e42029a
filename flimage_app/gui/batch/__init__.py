"""Batch work on many files: the 'Apply to other files…' dialog."""
