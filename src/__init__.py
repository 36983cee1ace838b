"""users-service: the design card's layers (`domain`, `application`, `adapters`,
`entrypoints`) under one import name, so that no generic top-level name is installed."""
