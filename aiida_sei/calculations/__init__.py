"""CalcJobs of aiida-sei, and calcfunctions in ``calculations.functions``."""


def set_serial_defaults(spec, parser_name: str | None = None) -> None:
    """Defaults of a single-process job (one rank, no MPI) with stdout in ``aiida.out``."""
    options = spec.inputs['metadata']['options']
    if parser_name:
        options['parser_name'].default = parser_name
    options['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
    options['withmpi'].default = False
    options['output_filename'].default = 'aiida.out'
