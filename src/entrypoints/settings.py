"""Configuration from the environment (and `.env`), read once by the container."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MEMORY_URL = "memory://"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/users.db",
        description="SQLAlchemy URL: postgresql+asyncpg://..., sqlite+aiosqlite:///..., memory://",
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(
        default=3.0, gt=0, description="seconds to wait for a connection"
    )
    db_pool_recycle: int = Field(default=1800, description="seconds before a connection is renewed")
    db_pool_pre_ping: bool = False
    db_connect_timeout: float = Field(default=3.0, gt=0)
    db_statement_timeout: float = Field(default=5.0, gt=0)
    db_echo: bool = False

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    readiness_timeout: float = Field(default=1.0, gt=0, description="seconds /readyz waits")
    cursor_secret: SecretStr = Field(
        default=SecretStr("users-service-cursor-key"),
        description="HMAC key that makes list cursors tamper-evident",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)

    @property
    def uses_memory(self) -> bool:
        return self.database_url.startswith(MEMORY_URL)
