"""Binary classifiers on tabular features (the fraud model).

Preprocessing is fitted inside the model Pipeline, so the artifact can never be paired with
the wrong preprocessor; CV is stratified K-fold because positives are rare (~6%).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrain.config import ModelConfig


class BinaryClassifierFamily:
    task = "binary"

    def prepare(self, raw: pd.DataFrame, cfg: ModelConfig, context: dict | None = None) -> pd.DataFrame:
        """Model-ready rows: the configured features plus the label (tabular: nothing to derive).
        No .copy(): under pandas 3's copy-on-write the selection is already independent of `raw`
        (a write to either copies then), and an eager copy of a 1M-row window cost 0.5 s."""
        cols = list(cfg.data.features) + [cfg.data.label]
        extra = [c for c in ("_week",) if c in raw.columns]
        return raw[cols + extra]

    def window_frame(self, loader, cfg: ModelConfig, week) -> pd.DataFrame:
        """The prepared training window: the last N landed weeks up to the run's week."""
        from retrain.core.features import assemble_window, window_weeks

        batches = loader.batches(window_weeks(week, cfg.data.window_weeks), required=week)
        return self.prepare(assemble_window(batches), cfg)

    def batch_frame(self, loader, cfg: ModelConfig, week) -> pd.DataFrame:
        """The prepared newest week alone (what the champion is scored on by the triggers)."""
        return self.prepare(loader.batch(week), cfg)

    def feature_columns(self, cfg: ModelConfig) -> list[str]:
        return list(cfg.data.features)

    def target(self, frame: pd.DataFrame, cfg: ModelConfig) -> np.ndarray:
        return frame[cfg.data.label].to_numpy(dtype=int)

    def build_preprocessor(self, cfg: ModelConfig):
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        parts = [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                list(cfg.data.numeric_features),
            )
        ]
        if cfg.data.binary_features:
            parts.append(("binary", SimpleImputer(strategy="most_frequent"), list(cfg.data.binary_features)))
        if cfg.data.categorical_features:
            parts.append(
                (
                    "categorical",
                    Pipeline(
                        [
                            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                        ]
                    ),
                    list(cfg.data.categorical_features),
                )
            )
        return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)

    def cv_splits(self, frame: pd.DataFrame, y: np.ndarray, cfg: ModelConfig):
        from sklearn.model_selection import StratifiedKFold

        folds = StratifiedKFold(n_splits=cfg.training.cv_folds, shuffle=True, random_state=cfg.training.random_state)
        return list(folds.split(np.zeros(len(y)), y))

    def score(self, model, X: pd.DataFrame) -> np.ndarray:
        """Fraud probability of each row: the score that drift (KS) and metrics use."""
        return model.predict_proba(X)[:, 1]

    def metrics(self, y: np.ndarray, scores: np.ndarray, cfg: ModelConfig) -> dict:
        from retrain.core.metrics import classification_metrics

        m = cfg.metrics
        return classification_metrics(
            y,
            scores,
            threshold=float(m.get("decision_threshold", 0.5)),
            cost_missed=float(m.get("cost_missed_fraud", 500.0)),
            cost_false_alarm=float(m.get("cost_false_alarm", 10.0)),
        )

    def sample_for_cv(self, frame: pd.DataFrame, y: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
        """Row positions for CV: all rows, or a stratified sample above `max_rows`."""
        if len(y) <= max_rows:
            return np.arange(len(y))
        from sklearn.model_selection import train_test_split

        idx, _ = train_test_split(np.arange(len(y)), train_size=max_rows, stratify=y, random_state=seed)
        return np.sort(idx)
