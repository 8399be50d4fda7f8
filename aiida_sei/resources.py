"""Resource profiles: which hardware each step of the study asks the scheduler for.

A profile (``workchains/protocols/resources.yaml``) gives, per step *role* (label, md, model_md,
train, compile, production), the CalcJob's ``metadata.options`` (resources, queue, walltime,
``--gres`` through ``custom_scheduler_commands``) and the few inputs that follow the hardware
(the compile ``device``; LAMMPS' Kokkos ``cmdline`` and ``load_plugin``).
:func:`apply_resources` writes them into a builder of any sei work chain or CalcJob from the
outside, wherever that process keeps the options of its jobs: a nested CalcJob namespace
(``train.metadata.options``, ``label.gpaw.gpaw.metadata.options``), or a Dict input that the work
chain passes on (``options``, the ``options`` key of ``training``).
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


# -- where each process keeps the options of its jobs ------------------------------------------


def _calcjob(role):
    """The builder (namespace) is a CalcJob's inputs."""

    def apply(namespace, profile):
        settings = profile.get(role, {})
        options = dict(namespace.metadata.options) if 'options' in namespace.metadata else {}
        namespace.metadata.options = merged_options(options, settings.get('options', {}))
        for port, value in settings.get('inputs', {}).items():
            namespace[port] = _as_node(value)

    return apply


def _options_dict(path, role, key=None):
    """A Dict input at ``path`` holding options (or holding them under ``key``), which the work
    chain passes on to the jobs it launches."""

    def apply(namespace, profile):
        parent, name = _parent(namespace, path)
        current = parent[name].get_dict() if name in parent and parent[name] is not None else {}
        options = profile.get(role, {}).get('options', {})
        if key is None:
            parent[name] = orm.Dict(merged_options(current, options))
        else:
            parent[name] = orm.Dict({**current, key: merged_options(current.get(key) or {}, options)})

    return apply


def _nested(path, process_class_name):
    """A namespace at ``path`` exposing the inputs of another process of the plan."""

    def apply(namespace, profile):
        parent, name = _parent(namespace, path)
        if name in parent and parent[name]:
            _apply(parent[name], _plan()[process_class_name], profile)

    return apply


def _label_backends(namespace, profile):
    from aiida_sei.workchains.label import BACKENDS

    for backend_namespace, (workchain, _) in BACKENDS.items():
        if backend_namespace in namespace and namespace[backend_namespace]:
            _apply(namespace[backend_namespace], _plan()[workchain.__name__], profile)


def _resolved_profile(port):
    """A work chain that builds its steps itself takes the resolved profile as an input and
    applies it to each step's builder (:func:`apply_profile`)."""

    def apply(namespace, profile):
        namespace[port] = orm.Dict(profile)

    return apply


def _plan() -> dict:
    """Process class name -> the appliers that put each role's settings where it reads them."""
    return {
        'LabelWorkChain': [_label_backends],
        'GpawBaseWorkChain': [_nested('gpaw', 'GpawCalculation')],
        'AseBaseWorkChain': [_nested('ase', 'AseCalculation')],
        'VaspLabelWorkChain': [_nested('vasp.calc', 'VaspCalculation')],
        'AllegroTrainingWorkChain': [_nested('train', 'NequipTrainCalculation')],
        'ActiveLearningWorkChain': [_nested('md_job', 'FlareMdCalculation'), _nested('label', 'LabelWorkChain')],
        'ActiveLearningSweepWorkChain': [_nested('active_learning', 'ActiveLearningWorkChain')],
        'RefinementWorkChain': [_options_dict('options', 'model_md'), _options_dict('training', 'train', key='options'),
                                _nested('label', 'LabelWorkChain')],
        'InterfaceWorkChain': [_resolved_profile('resources')],
        'GpawCalculation': [_calcjob('label')],
        'AseCalculation': [_calcjob('label')],
        'VaspCalculation': [_calcjob('label')],
        'FlareMdCalculation': [_calcjob('md')],
        'AseMdCalculation': [_calcjob('model_md')],
        'NequipTrainCalculation': [_calcjob('train')],
        'NequipCompileCalculation': [_calcjob('compile')],
        'LammpsMdCalculation': [_calcjob('production')],
    }


def _parent(namespace, path: str):
    *parents, name = path.split('.')
    for part in parents:
        namespace = namespace[part]
    return namespace, name


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


def _apply(namespace, appliers, profile):
    for apply in appliers:
        apply(namespace, profile)


def apply_resources(builder, profile_name: str | None = None, overrides: dict | None = None):
    """Set the scheduler options of every job ``builder`` will launch from profile ``profile_name``
    (``laptop``, ``cluster``, ...), by role; ``overrides``: role -> {options, inputs} over the
    profile. Returns the builder. Unknown profiles, roles or processes raise a ValueError."""
    return apply_profile(builder, get_profile(profile_name, overrides))


def apply_profile(builder, profile: dict):
    """As :func:`apply_resources`, with a resolved profile (role -> {options, inputs})."""
    name = builder.process_class.__name__
    plan = _plan()
    if name not in plan:
        raise ValueError(f'no resource plan for {name}; known: {", ".join(sorted(plan))}')
    _apply(builder, plan[name], profile)
    return builder
