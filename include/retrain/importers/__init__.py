"""Importers of real data into the landing layout (`retrain data import`)."""
