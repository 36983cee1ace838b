"""The users domain: entities, value objects and errors. Standard library only."""
