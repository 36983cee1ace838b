"""Alembic migrations, shipped inside the package as `users_service.migrations`."""
