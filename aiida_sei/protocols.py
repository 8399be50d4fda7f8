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

PROTOCOL_DIRECTORY = pathlib.Path(__file__).parent / 'workchains' / 'protocols'


class ProtocolError(ValueError):
    """An unknown protocol or an override of a key that the protocol does not have."""


def load_protocol_file(name: str) -> dict:
    with open(PROTOCOL_DIRECTORY / f'{name}.yaml', encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def recursive_merge(base: dict, update: dict, open_keys: tuple[str, ...] | None = None, path: str = '') -> dict:
    """``base`` recursively updated with ``update``.

    With ``open_keys`` given, keys absent from ``base`` are refused except inside the mappings
    named there by dotted path (mappings a user may extend, such as the set of structures).
    """
    merged = copy.deepcopy(base)
    for key, value in update.items():
        where = f'{path}.{key}' if path else str(key)
        if open_keys is not None and key not in merged and not any(path == k or path.startswith(f'{k}.') for k in open_keys):
            raise ProtocolError(f'unknown protocol key `{where}`; known here: {", ".join(map(str, merged)) or "none"}')
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = recursive_merge(merged[key], value, open_keys, where)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class ProtocolMixin:
    """Adds protocol look-ups to a process class; set ``_protocol_file`` and ``_open_keys``."""

    _protocol_file: str
    _open_keys: tuple[str, ...] = ()

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
        return recursive_merge(inputs, overrides or {}, open_keys=tuple(cls._open_keys))


def kpoints_from_protocol(structure, inputs: dict):
    """The protocol's Gamma-centred mesh for ``structure``: ``kpoints_spacing`` (Å^-1) and
    Gamma only above ``gamma_only_above_atoms`` atoms."""
    from aiida import orm

    from aiida_sei.science.kpoints import kpoint_mesh

    atoms = structure.get_ase()
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh(kpoint_mesh(atoms.cell, inputs['kpoints_spacing'], len(atoms), inputs['gamma_only_above_atoms']))
    return kpoints
