"""aiida-sei."""
