"""The FastAPI application: routes, schemas, problem+json errors and middleware."""
