"""The sales family itself: frames, preprocessing, time-ordered CV, scoring, metrics."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from retrain.config import ModelConfig
from retrain.errors import DataValidationError
from retrain.families.sales.features import WEEK_COLUMN, engineer_features, model_rows, read_processed


class SalesForecastFamily:
    task = "regression"

    # ------------------------------------------------------------------ frames
    def _prepared(self, loader, cfg: ModelConfig, week: dt.date, n_weeks: int) -> pd.DataFrame:
        processed = read_processed(loader, cfg, week, n_weeks)
        featured = engineer_features(processed.require_typed())
        rows = model_rows(featured, week - dt.timedelta(weeks=n_weeks - 1))
        keep = ["Store", "Date", *self.feature_columns(cfg), cfg.data.label, WEEK_COLUMN]
        return rows[list(dict.fromkeys(keep))]

    def window_frame(self, loader, cfg: ModelConfig, week) -> pd.DataFrame:
        """The training window's model rows (features + label + Store/Date + `_week`)."""
        return self._prepared(loader, cfg, week, cfg.data.window_weeks)

    def batch_frame(self, loader, cfg: ModelConfig, week) -> pd.DataFrame:
        """The newest week's model rows (its lags read the earlier partitions)."""
        return self._prepared(loader, cfg, week, 1)

    def feature_columns(self, cfg: ModelConfig) -> list[str]:
        return list(cfg.data.features)

    def target(self, frame: pd.DataFrame, cfg: ModelConfig) -> np.ndarray:
        return frame[cfg.data.label].to_numpy(dtype=np.float64)

    # ------------------------------------------------------------------ model
    def build_preprocessor(self, cfg: ModelConfig):
        """Numbers (with their NaNs: both tree ensembles split on missing values) pass through;
        categoricals are ordinal-encoded, an unseen or missing category becoming -1."""
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import OrdinalEncoder

        parts = [("numeric", "passthrough", list(cfg.data.numeric_features) + list(cfg.data.binary_features))]
        if cfg.data.categorical_features:
            encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                     encoded_missing_value=-1, dtype=np.float64)
            parts.append(("categorical", encoder, list(cfg.data.categorical_features)))
        return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)

    def cv_splits(self, frame: pd.DataFrame, y: np.ndarray, cfg: ModelConfig):
        """Time-ordered folds: each of the newest `cv_folds` weeks is validated by a model
        trained on all earlier weeks (expanding window); never a shuffled K-fold."""
        weeks = np.asarray(frame[WEEK_COLUMN])
        ordered = sorted(set(weeks.tolist()))
        n_folds = min(cfg.training.cv_folds, len(ordered) - 1)
        if n_folds < 1:
            raise DataValidationError(f"time-based CV needs at least 2 weeks in the training part, got {ordered}")
        folds = []
        for val_week in ordered[-n_folds:]:
            train_idx = np.flatnonzero(weeks < val_week)
            val_idx = np.flatnonzero(weeks == val_week)
            folds.append((train_idx, val_idx))
        return folds

    def score(self, model, X: pd.DataFrame) -> np.ndarray:
        """Predicted Sales of each row (never negative)."""
        return np.maximum(np.asarray(model.predict(X), dtype=np.float64), 0.0)

    def metrics(self, y: np.ndarray, scores: np.ndarray, cfg: ModelConfig) -> dict:
        from retrain.metrics import regression_metrics

        return regression_metrics(y, scores)

    def sample_for_cv(self, frame: pd.DataFrame, y: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
        """All rows, or a uniform sample in time order (every week keeps its share)."""
        if len(y) <= max_rows:
            return np.arange(len(y))
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(len(y), size=max_rows, replace=False))

    # ------------------------------------------------------------------ validation
    def validation_stages(self, loader, cfg: ModelConfig, week, batch_report=None) -> list:
        """Store-table, processed and features stages (the raw batch suite runs in the step).

        A stage runs only when every earlier stage passed; a stage not run is listed with why.
        """
        from retrain.families.sales.checks import validation_stages

        return validation_stages(loader, cfg, week, batch_report)

