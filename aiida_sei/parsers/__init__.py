"""Parsers of aiida-sei: one per CalcJob."""
