"""Use cases on groups and memberships."""
