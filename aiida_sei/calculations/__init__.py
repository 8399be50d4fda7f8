"""CalcJobs of aiida-sei, and calcfunctions in ``calculations.functions``."""
