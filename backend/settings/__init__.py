"""All settings, each declared once (in the modules of this package, by group): read from
the environment and checked at start, shown masked in repr and `lsbert settings`, and
tabled in README.md and docs/settings.md."""

from __future__ import annotations

from dataclasses import dataclass

from backend.errors import ConfigError
from backend.settings.connections import ConnectionSettings
from backend.settings.fields import DeclaredSettings
from backend.settings.pushing import PushSettings
from backend.settings.serving import INT8_RUNTIME, ServingSettings, default_torch_threads
from backend.settings.training import TrainingSettings

__all__ = ["INT8_RUNTIME", "Settings", "default_torch_threads", "markdown_table"]


# Fields come in the order of the groups' modules, last base first: the tables follow it.
# repr=False keeps DeclaredSettings' repr, which masks secrets, over the dataclass's own.
@dataclass(frozen=True, repr=False)
class Settings(
    PushSettings, ServingSettings, TrainingSettings, ConnectionSettings, DeclaredSettings
):
    @property
    def api_configured(self) -> bool:
        return bool(self.label_studio_url and self.label_studio_api_key)

    @property
    def basic_auth_enabled(self) -> bool:
        return bool(self.basic_auth_user)

    @property
    def training_source(self) -> str:
        """Where training jobs take annotations from: Label Studio's API, or webhooks."""
        return "label-studio-api" if self.api_configured else "webhooks"

    @property
    def pushes(self) -> bool:
        """Whether changes of the served version push predictions to Label Studio."""
        return self.api_configured and self.push_predictions

    @property
    def exports_int8(self) -> bool:
        """Whether each trained classifier gets an int8 ONNX file for CPU serving."""
        return self.inference_runtime == INT8_RUNTIME

    def check_consistency(self) -> None:
        if self.label_studio_api_key and not self.label_studio_url:
            raise ConfigError(
                "LABEL_STUDIO_API_KEY is set but LABEL_STUDIO_URL is not: set LABEL_STUDIO_URL "
                "to the address of Label Studio as seen from this backend, e.g. http://localhost:8080"
            )
        if self.label_studio_url and not self.label_studio_api_key:
            raise ConfigError(
                "LABEL_STUDIO_URL is set but LABEL_STUDIO_API_KEY is not: copy the access token "
                "from Label Studio's Account & Settings page into LABEL_STUDIO_API_KEY, or unset "
                "LABEL_STUDIO_URL to train from webhook payloads"
            )
        super().check_consistency()  # the maxima, from the declarations
        if bool(self.basic_auth_user) != bool(self.basic_auth_pass):
            raise ConfigError(
                "BASIC_AUTH_USER and BASIC_AUTH_PASS go together: set both to require basic "
                "auth, or neither"
            )

    def require_redis(self, command: str) -> str:
        if not self.redis_url:
            raise ConfigError(
                f"REDIS_URL is not set: `lsbert {command}` needs a Redis server, e.g. "
                "REDIS_URL=redis://localhost:6379/0 (or run `lsbert serve`, which embeds one)"
            )
        return self.redis_url


# for `lsbert settings --markdown` and the test that compares the docs with it
markdown_table = Settings.markdown_table
