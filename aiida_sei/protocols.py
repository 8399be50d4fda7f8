"""YAML protocols, as in aiida-quantumespresso: named input sets with recursive overrides.

A protocol file holds ``default_inputs``, ``default_protocol`` and ``protocols`` (each with a
``description``); a protocol's inputs are the defaults recursively updated with the protocol's
own keys and then with the user's overrides. Overrides may only name keys that exist, so a typo
fails before anything runs.
"""

from __future__ import annotations

import copy
import pathlib

import yaml
from aiida.orm import Node
from plumpy.ports import PortNamespace

PROTOCOL_DIRECTORY = pathlib.Path(__file__).parent / 'workchains' / 'protocols'


class ProtocolError(ValueError):
    """An unknown protocol or an override of a key that the protocol does not have."""


def within(exception: ProtocolError, namespace: str) -> ProtocolError:
    """``exception`` with the ``namespace`` it arose in named first (the same object, so its
    traceback still shows where it was raised)."""
    exception.args = (f'{namespace}: {exception}',)
    return exception


def child_inputs(where: str, workchain, codes, protocol=None, overrides=None, options=None) -> dict:
    """The inputs of ``workchain``'s protocol builder, for a parent that exposes them; a protocol
    error names ``where`` it arose (the parent's namespace or step)."""
    try:
        builder = workchain.get_builder_from_protocol(codes, protocol, overrides, options)
    except ProtocolError as exception:
        raise within(exception, where)
    return builder._inputs(prune=True)


def load_protocol_file(name: str) -> dict:
    with open(PROTOCOL_DIRECTORY / f'{name}.yaml', encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def recursive_merge(base: dict, update: dict, open_keys: tuple[str, ...] | None = None, path: str = '', ports=None) -> dict:
    """``base`` recursively updated with ``update``.

    With ``open_keys`` given, keys absent from ``base`` are refused unless ``ports`` (the port
    namespace the protocol mirrors) has them, or they lie inside a mapping named in
    ``open_keys`` by dotted path (mappings a user may extend, such as INCAR tags).
    """
    merged = copy.deepcopy(base)
    for key, value in update.items():
        where = f'{path}.{key}' if path else str(key)
        known = key in merged or _has_port(ports, key)
        if open_keys is not None and not known and not any(path == k or path.startswith(f'{k}.') for k in open_keys):
            valid = [*map(str, merged), *(name for name in (ports or {}) if name not in merged)]
            raise ProtocolError(f'unknown protocol key `{where}`; known here: {", ".join(valid) or "none"}')
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = recursive_merge(merged[key], value, open_keys, where, _sub_namespace(ports, key))
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _has_port(ports, key) -> bool:
    return isinstance(ports, PortNamespace) and key in ports


def _sub_namespace(ports, key):
    return ports[key] if _has_port(ports, key) and isinstance(ports[key], PortNamespace) else None


def fill_builder(namespace, values: dict):
    """Set ``values`` (plain data nested as the ports are) on a builder ``namespace``: a value
    of a stored port becomes a node of the port's type; namespaces (``metadata.options``) recurse."""
    for key, value in values.items():
        port = namespace._port_namespace.get(key)
        if value is None:  # YAML null: left unset (a required one is then named by validation)
            continue
        if isinstance(port, PortNamespace) and isinstance(value, dict):
            fill_builder(namespace[key], value)
        elif isinstance(port, PortNamespace) or not _takes_nodes(port) or isinstance(value, Node):
            namespace[key] = value
        else:
            namespace[key] = as_node(value, port)


def _takes_nodes(port) -> bool:
    if port is None or port.valid_type is None:
        return False
    valid = port.valid_type if isinstance(port.valid_type, tuple) else (port.valid_type,)
    return any(isinstance(kind, type) and issubclass(kind, Node) for kind in valid)


def as_node(value, port):
    """``value`` as the node type its ``port`` takes (a whole float port given 1 gets Float(1.0))."""
    from aiida import orm

    valid = port.valid_type if isinstance(port.valid_type, tuple) else (port.valid_type,)
    if isinstance(value, int) and not isinstance(value, bool) and orm.Float in valid and orm.Int not in valid:
        return orm.Float(value)
    return orm.to_aiida_type(value)


def code_roles(cls, codes) -> dict:
    """``codes`` as role -> code for ``cls`` (its ``CODES`` name the roles); a class with one
    role also takes the code itself. A missing role or a non-code is a ValueError."""
    from aiida.orm import AbstractCode

    roles = list(cls.CODES)
    if isinstance(codes, AbstractCode):
        if len(roles) != 1:
            raise ValueError(f'{cls.__name__} takes its codes by role ({", ".join(roles)}), not one code')
        codes = {roles[0]: codes}
    missing = [role for role in roles if not isinstance((codes or {}).get(role), AbstractCode)]
    if missing:
        raise ValueError(f'{cls.__name__}: codes missing: {", ".join(missing)} (roles: {", ".join(roles)}; each an AbstractCode)')
    return {role: codes[role] for role in roles}


class ProtocolMixin:
    """Adds protocol look-ups to a process class; set ``_protocol_file`` and ``_open_keys``, and
    ``_keys_are_ports`` where the protocol's keys are the input ports (overrides may then name
    any port, as in aiida-quantumespresso).

    Every class's builder comes from ``get_builder_from_protocol(codes, protocol=None,
    overrides=None, options=None, **nodes)``: ``codes`` by the roles of ``CODES``, the node
    inputs named in ``NODES`` by keyword."""

    _protocol_file: str
    #: Code roles -> label of the `aiida-sei setup` code that plays it on localhost (None: none;
    #: `label`: the code of the labelling backend).
    CODES: dict[str, str | None] = {}
    #: Node inputs that get_builder_from_protocol takes by keyword (structure, dataset, ...).
    NODES: tuple[str, ...] = ()
    _open_keys: tuple[str, ...] = ()
    _keys_are_ports = False

    @classmethod
    def _protocols(cls) -> dict:
        return load_protocol_file(cls._protocol_file)

    @classmethod
    def get_default_protocol(cls) -> str:
        return cls._protocols()['default_protocol']

    @classmethod
    def get_available_protocols(cls) -> dict[str, dict]:
        return {name: {'description': p['description']} for name, p in cls._protocols()['protocols'].items()}

    @classmethod
    def get_protocol_inputs(cls, protocol: str | None = None, overrides: dict | None = None) -> dict:
        data = cls._protocols()
        protocol = protocol or data['default_protocol']
        if protocol not in data['protocols']:
            raise ProtocolError(f'unknown protocol `{protocol}`; available: {", ".join(data["protocols"])}')
        chosen = {k: v for k, v in data['protocols'][protocol].items() if k != 'description'}
        inputs = recursive_merge(data.get('default_inputs', {}), chosen)
        ports = cls.spec().inputs if cls._keys_are_ports else None
        return recursive_merge(inputs, overrides or {}, open_keys=tuple(cls._open_keys), ports=ports)
