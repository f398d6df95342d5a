"""The sales family itself: frames, preprocessing, time-ordered CV, scoring, metrics."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from retrain.config import ModelConfig
from retrain.errors import ConfigError, DataValidationError
from retrain.families.sales.features import engineer_features, model_rows
from retrain.families.sales.processing import WEEK_COLUMN, read_processed
from retrain.families.sales.settings import forecast_horizon

RELATIVE_WEIGHT_CAP = 10.0  # relative_error weights: store median / Sales at most this


class SalesForecastFamily:
    task = "regression"

    # ------------------------------------------------------------------ frames
    def _prepared(self, loader, cfg: ModelConfig, week: dt.date, n_weeks: int) -> pd.DataFrame:
        processed = read_processed(loader, cfg, week, n_weeks)
        featured = engineer_features(processed.require_typed(), forecast_horizon(cfg))
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
        categoricals are ordinal-encoded, an unseen or missing category becoming -1; a column
        with no value at all in the training rows becomes 0 (EmptyColumnsAsZero)."""
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import OrdinalEncoder

        parts = [("numeric", "passthrough", list(cfg.data.numeric_features) + list(cfg.data.binary_features))]
        if cfg.data.categorical_features:
            encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                     encoded_missing_value=-1, dtype=np.float64)
            parts.append(("categorical", encoder, list(cfg.data.categorical_features)))
        from sklearn.pipeline import Pipeline

        from retrain.families.sales.preprocessing import EmptyColumnsAsZero

        columns = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
        return Pipeline([("columns", columns), ("empty_as_zero", EmptyColumnsAsZero())])

    def cv_gap_weeks(self, cfg: ModelConfig) -> int:
        """Weeks left out between a fold's training part and its validation week: the newest
        training label is then at least `forecast_horizon_days` older than the validated days."""
        return math.ceil((forecast_horizon(cfg) - 1) / 7)  # horizon 1: the Sunday before a Monday is 1 day old

    def cv_scheme(self, cfg: ModelConfig) -> str:
        """How candidates are selected, for the run log."""
        return (f"time-ordered CV: each of the newest {cfg.training.cv_folds} training weeks validated by a model "
                f"of the weeks before it, {self.cv_gap_weeks(cfg)} week(s) left out in between "
                f"(horizon {forecast_horizon(cfg)} days); never shuffled folds")

    def cv_splits(self, frame: pd.DataFrame, y: np.ndarray, cfg: ModelConfig):
        """Time-ordered folds: each of the newest `cv_folds` weeks is validated by a model
        trained on the weeks before it (expanding window) minus a gap of cv_gap_weeks();
        never a shuffled K-fold, which leaks across time through the lag features."""
        weeks = np.asarray(frame[WEEK_COLUMN])
        ordered = sorted(set(weeks.tolist()))
        gap = self.cv_gap_weeks(cfg)
        n_folds = min(cfg.training.cv_folds, len(ordered) - 1 - gap)
        if n_folds < 1:
            raise DataValidationError(f"time-based CV with a {gap}-week gap needs at least {gap + 2} weeks in the "
                                      f"training part, got {ordered}")
        folds = []
        for i in range(len(ordered) - n_folds, len(ordered)):
            train_idx = np.flatnonzero(weeks < ordered[i - gap])
            val_idx = np.flatnonzero(weeks == ordered[i])
            folds.append((train_idx, val_idx))
        return folds

    def sample_weight(self, frame: pd.DataFrame, y: np.ndarray, cfg: ModelConfig, scheme: str) -> np.ndarray:
        """Row weights of a fit (`training.candidates[].average[].sample_weight`).

        relative_error: (store median / Sales)^2, so that the weighted squared error of a row is its
        squared relative error, as RMSPE counts it, on the store's own scale (each store's rows weigh
        about as much as another's). The ratio is capped at 10 (a day selling under a tenth of the
        store's median weighs at most 100): a single partial-opening day must not own a leaf.
        Mean 1 over the rows."""
        if scheme != "relative_error":
            raise ConfigError(f"{cfg.source_path}: the sales family has no sample weight {scheme!r}")
        store = frame[cfg.data.id_column].to_numpy()
        median = pd.Series(y).groupby(store).transform("median").to_numpy(dtype=np.float64)
        weights = np.minimum(median / y, RELATIVE_WEIGHT_CAP) ** 2
        return weights / weights.mean()

    def score(self, model, X: pd.DataFrame) -> np.ndarray:
        """Predicted Sales of each row (never negative)."""
        return np.maximum(np.asarray(model.predict(X), dtype=np.float64), 0.0)

    def metrics(self, y: np.ndarray, scores: np.ndarray, cfg: ModelConfig) -> dict:
        from retrain.core.metrics import regression_metrics

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

