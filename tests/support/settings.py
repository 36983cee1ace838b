"""Settings for tests: exactly what the test passes, never the caller's environment or a
dotenv file in the working directory. `DEFAULTS` holds what the run's options choose
(`--db-fast-path`), under anything a test passes."""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from users_service.entrypoints.settings import Settings

DEFAULTS: dict[str, Any] = {}


class _RunDefaults(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return DEFAULTS.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(DEFAULTS)


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
        return (init_settings, _RunDefaults(settings_cls))
