"""Work chains of aiida-sei."""


def failure(node) -> str:
    """How a failed child is named in exit messages and reports: ``Label<pk> exit N: message``."""
    return f'{node.process_label}<{node.pk}> exit {node.exit_status}: {node.exit_message}'
