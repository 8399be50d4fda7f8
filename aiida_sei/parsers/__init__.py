"""Parsers of aiida-sei: one per CalcJob."""


def missing_output(parser, exit_code):
    """Exit code for an expected file that is missing: the job's walltime if the scheduler
    reported it (the run was cut short), else ``exit_code``."""
    walltime = parser.node.process_class.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME.status
    return parser.exit_codes.ERROR_OUT_OF_WALLTIME if parser.node.exit_status == walltime else exit_code
