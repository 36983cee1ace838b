"""Settings for tests: exactly what the test passes, never the caller's environment or a
dotenv file in the working directory."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from users_service.application.relay import RelaySettings
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


def relay_settings_with(**changes: Any) -> RelaySettings:
    """The relay's settings as the service's defaults make them, with `changes`."""
    from users_service.entrypoints.options import relay_settings

    return dataclasses.replace(relay_settings(IsolatedSettings()), **changes)
