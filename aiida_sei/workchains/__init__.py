"""Work chains of aiida-sei."""
