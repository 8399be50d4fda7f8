"""Resource profiles: which hardware each step of the study asks the scheduler for.

A profile (``workchains/protocols/resources.yaml``) gives, per step *role* (label, md, model_md,
train, compile, production), the CalcJob's ``metadata.options`` (resources, queue, walltime,
``--gres`` through ``custom_scheduler_commands``) and the few inputs that follow the hardware
(the compile ``device``; LAMMPS' Kokkos ``cmdline`` and ``load_plugin``).
:func:`apply_resources` writes them into a builder of any sei work chain or CalcJob from the
outside: it walks the exposed input namespaces down to each job
(``allegro.train.metadata.options``, ``active_learning.active_learning.label.gpaw.gpaw.metadata.options``).
"""

from __future__ import annotations

import copy

from aiida import orm

from aiida_sei.protocols import load_protocol_file, recursive_merge

#: What a role may set: scheduler options, and inputs of the CalcJob itself.
ROLE_KEYS = ('options', 'inputs')


def load_profiles() -> dict:
    return load_protocol_file('resources')


def available_profiles() -> list[str]:
    return list(load_profiles()['profiles'])


def available_roles() -> list[str]:
    return list(load_profiles()['roles'])


def get_profile(name: str | None = None, overrides: dict | None = None) -> dict:
    """Role -> {options, inputs} of profile ``name``, recursively updated with ``overrides``
    (role -> {options: {...}, inputs: {...}}). Unknown names raise a ValueError naming the known ones."""
    data = load_profiles()
    name = name or data['default_profile']
    if name not in data['profiles']:
        raise ValueError(f'unknown resource profile `{name}`; available: {", ".join(data["profiles"])}')
    roles = data['profiles'][name]['roles']
    for role, settings in (overrides or {}).items():
        if role not in data['roles']:
            raise ValueError(f'unknown resource role `{role}`; valid roles: {", ".join(data["roles"])}')
        unknown = set(settings) - set(ROLE_KEYS)
        if unknown:
            raise ValueError(f'role `{role}` may set {", ".join(ROLE_KEYS)}, not {", ".join(sorted(unknown))}')
    return recursive_merge(roles, overrides or {})


def merged_options(current: dict, options: dict) -> dict:
    """``current`` with every key the profile names replaced whole (``resources`` included: a
    mix of two profiles' resources would describe neither)."""
    return {**copy.deepcopy(current), **copy.deepcopy(options)}


# -- finding the jobs of a builder --------------------------------------------------------------
#
# A job's role is what its parent declares for the namespace it sits in (RESOURCE_ROLES: the
# refinement compiles for the CPU, so its compile job plays `model_md`), else the CalcJob's own
# RESOURCE_ROLE, else the role of the namespace around it (aiida-vasp's VaspCalculation, inside
# the `vasp` namespace of sei.vasp.label, plays `label`).


def _jobs(namespace, process, role=None, ports=None):
    """(builder namespace, CalcJob class, role, its exposed port names) of every job that
    ``process`` launches from the inputs in ``namespace``."""
    from aiida.engine import CalcJob

    if issubclass(process, CalcJob):
        if role is not None:
            yield namespace, process, role, ports if ports is not None else list(process.spec().inputs)
        return
    declared = getattr(process, 'RESOURCE_ROLES', {})
    for name, children in process.spec()._exposed_inputs.items():
        if name is not None and (name not in namespace or not namespace[name]):
            continue  # an optional step left out (a disabled refinement, an unused backend)
        target = namespace if name is None else namespace[name]
        for child, exposed in children.items():
            if not exposed:  # an empty entry that aiida's `exposed_inputs(agglomerate=True)` leaves behind
                continue
            child_role = declared.get(name) or getattr(child, 'RESOURCE_ROLE', None) or role
            yield from _jobs(target, child, child_role, exposed)


def _apply_job(namespace, role: str, ports: list[str], profile: dict):
    settings = profile.get(role, {})
    if 'metadata' in ports:
        options = dict(namespace.metadata.options) if 'options' in namespace.metadata else {}
        namespace.metadata.options = merged_options(options, settings.get('options', {}))
    for port, value in settings.get('inputs', {}).items():
        if port in ports:  # a parent that sets it itself does not expose it (the refinement's compile device)
            namespace[port] = _as_node(value)


def _as_node(value):
    if isinstance(value, bool):
        return orm.Bool(value)
    if isinstance(value, str):
        return orm.Str(value)
    if isinstance(value, list):
        return orm.List(value)
    if isinstance(value, dict):
        return orm.Dict(value)
    raise TypeError(f'no node type for {value!r}')


def apply_resources(builder, profile_name: str | None = None, overrides: dict | None = None):
    """Set the scheduler options of every job ``builder`` will launch from profile ``profile_name``
    (``laptop``, ``cluster``, ...), by role; ``overrides``: role -> {options, inputs} over the
    profile. Returns the builder. Unknown profiles, roles or processes raise a ValueError."""
    return apply_profile(builder, get_profile(profile_name, overrides))


def apply_profile(builder, profile: dict):
    """As :func:`apply_resources`, with a resolved profile (role -> {options, inputs})."""
    process = builder.process_class
    jobs = list(_jobs(builder, process, getattr(process, 'RESOURCE_ROLE', None)))
    if not jobs:
        raise ValueError(f'no resource role for {process.__name__}: none of the jobs it launches plays one of {", ".join(available_roles())}')
    for namespace, _, role, ports in jobs:
        _apply_job(namespace, role, ports, profile)
    return builder
