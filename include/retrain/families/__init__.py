"""Model families: the only model-specific code, selected by `family:` in a model config.

A family knows how to turn the assembled raw window into model-ready features, which
preprocessing and cross-validation fit its task, and how to score and measure a model.
Everything else (triggers, validation, registry, DAGs) is shared. The interface is the `Family`
protocol (base.py).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loading a config imports no module of retrain.families but this one
    from retrain.families.base import Family

_FAMILIES = {
    "binary_classifier": "retrain.families.binary:BinaryClassifierFamily",
    "sales_forecast": "retrain.families.sales:SalesForecastFamily",
}


def get_family(name: str) -> Family:
    try:
        target = _FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known: {sorted(_FAMILIES)}") from None
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)()


def known_families() -> list[str]:
    return sorted(_FAMILIES)

