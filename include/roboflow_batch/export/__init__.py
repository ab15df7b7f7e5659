"""Building blocks of the export step: safe archive extraction, result counting, destination, manifest."""
