"""The `Family` protocol: what the shared pipeline asks of a model family.

Families get their rows from a loader (`window_frame` / `batch_frame`: a family may need several
inputs per week, e.g. the sales family's store table and lag history) and otherwise work on
DataFrames and arrays only: no store, no registry, no Airflow. Optional hooks, used when present:
`cv_scheme(cfg) -> str` (named in the run log), `validation_stages(loader, cfg, week,
batch_report) -> list` (replaces the generic window checks of validate_data) and
`sample_weight(frame, y, cfg, scheme) -> array` (row weights of an averaged candidate's fit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import datetime as dt

    import numpy as np
    import pandas as pd

    from retrain.config import ModelConfig


@runtime_checkable
class Family(Protocol):
    task: str  # "binary" | "regression"

    def window_frame(self, loader: Any, cfg: ModelConfig, week: dt.date) -> pd.DataFrame:
        """The training window's model rows (features, label and `_week`)."""

    def batch_frame(self, loader: Any, cfg: ModelConfig, week: dt.date) -> pd.DataFrame:
        """The newest week's model rows (what the champion is scored on by the triggers)."""

    def feature_columns(self, cfg: ModelConfig) -> list[str]: ...

    def target(self, frame: pd.DataFrame, cfg: ModelConfig) -> np.ndarray: ...

    def build_preprocessor(self, cfg: ModelConfig) -> Any:
        """An unfitted scikit-learn transformer for the feature columns."""

    def cv_splits(self, frame: pd.DataFrame, y: np.ndarray, cfg: ModelConfig) -> Any: ...

    def score(self, model: Any, X: pd.DataFrame) -> np.ndarray: ...

    def metrics(self, y: np.ndarray, scores: np.ndarray, cfg: ModelConfig) -> dict: ...

    def sample_for_cv(self, frame: pd.DataFrame, y: np.ndarray, max_rows: int, seed: int) -> np.ndarray: ...
