"""Settings for tests: exactly what the test passes, never the caller's environment or a
dotenv file in the working directory."""

from __future__ import annotations

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from users_service.entrypoints.settings import Settings


class IsolatedSettings(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)
