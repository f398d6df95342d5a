"""Named error types of the bundle.

The pure core raises these; the Airflow adapter (retrain.airflow.tasks) maps the deterministic
ones (`DeterministicError`) to AirflowFailException so they are not retried, and lets
transient storage errors propagate so Airflow retries them with backoff.
"""


class RetrainError(Exception):
    """Base class of every error raised by the bundle."""


class DeterministicError(RetrainError):
    """Re-running the same task on the same inputs fails the same way: never retry."""


class ConfigError(DeterministicError):
    """A model config or a deployment setting is invalid."""


class DataValidationError(DeterministicError):
    """Input data failed a critical check; the message lists every failure."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report or {}


class MissingInputError(DeterministicError):
    """An input the run needs is absent (a landing batch, a champion artifact)."""


class GateRejected(DeterministicError):
    """The evaluation gate did not bless the challenger."""


class RegistryError(DeterministicError):
    """The registry refused an operation (nothing was changed)."""


class IntegrityError(RegistryError):
    """An artifact's checksum or size differs from its manifest: it is never loaded."""


class ConflictError(RegistryError):
    """Another writer changed the registry between our read and our conditional write."""


class SmokeTestFailed(DeterministicError):
    """The promoted champion does not reproduce its recorded canary predictions."""


class TransientStorageError(RetrainError):
    """S3 was unreachable or throttled; safe to retry."""


class ModelLoadError(RegistryError):
    """A model file matches its manifest but does not deserialize or score (its own verdict, not
    corruption: the bytes are the ones that were written)."""
