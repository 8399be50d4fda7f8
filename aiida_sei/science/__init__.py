"""The paper's science as pure functions on ASE atoms and numpy arrays (no AiiDA imports)."""
