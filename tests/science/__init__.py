

def fast_sgp_settings(**changes) -> dict:
    """The SGP settings of the `fast` active-learning protocol (their one home), with ``changes``."""
    from aiida_sei.protocols import load_protocol_file, recursive_merge

    protocols = load_protocol_file('active_learning')
    return {**recursive_merge(protocols['default_inputs']['sgp'], protocols['protocols']['fast'].get('sgp', {})), **changes}
