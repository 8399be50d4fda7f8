"""Calcfunctions: science steps run inline with full provenance."""
