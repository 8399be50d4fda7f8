"""What the project's restart work chains (BaseRestartWorkChain) share."""

from __future__ import annotations


class RestartMixin:
    """How a handled failure is reported, and the walltime doubling of jobs that cannot resume."""

    def report_error_handled(self, node, action):
        self.report(f'{node.process_label}<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}')
        self.report(f'action taken: {action}')

    def double_walltime(self) -> str:
        """Twice the walltime for the next job (the same would cut it at the same place); says what changed."""
        options = dict(self.ctx.inputs.metadata.options)
        walltime = options.get('max_wallclock_seconds') or 3600
        options['max_wallclock_seconds'] = 2 * walltime
        self.ctx.inputs.metadata.options = options
        return f'walltime {walltime} s -> {2 * walltime} s'
