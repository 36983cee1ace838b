"""Use cases on users, one per module."""
