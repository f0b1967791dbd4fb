"""Fuzz targets (atheris) for the parsers of outside input; ``make fuzz`` runs them."""
