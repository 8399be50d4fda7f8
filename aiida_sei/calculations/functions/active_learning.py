"""The steps of the active-learning loop that change its data, as calcfunctions: the jittered
start, the first SGP and each SGP update, so every model links back to the frames behind it."""

from __future__ import annotations

import io

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_sei.data import FrameData
from aiida_sei.data.sgp import SgpModelData
from aiida_sei.science import sgp as science

#: SGP settings the work chain passes to `make_sgp`.


@calcfunction
def jitter_structure(structure: orm.StructureData, settings: orm.Dict) -> orm.StructureData:
    """``structure`` with every atom displaced by ``amplitude`` Å in a random direction (seeded),
    the paper's start of the first SGP (0.01 Å)."""
    atoms = structure.get_ase()
    rng = np.random.default_rng(settings['seed'])
    directions = rng.normal(size=atoms.positions.shape)
    atoms.positions += settings['amplitude'] * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return orm.StructureData(ase=atoms)


def _label(frame: FrameData):
    return frame.get_atoms(), frame.energy, frame.get_array('forces'), frame.get_array('stress')


@calcfunction
def create_sgp(frame: FrameData, settings: orm.Dict) -> SgpModelData:
    """The first SGP: the species of the frame, every atom's environment as a sparse point
    (hyperparameters are trained from the second frame on, as in the paper)."""
    species = settings.get('species') or frame.base.attributes.get('elements')
    model = science.make_sgp(species, settings.get_dict())
    atoms, energy, forces, stress = _label(frame)
    science.add_frame(model, atoms, energy, forces, stress, range(len(atoms)))
    node = SgpModelData(model)
    node.base.attributes.set('atoms_added', len(atoms))
    node.keep_loaded(model)
    return node


#: FLARE's printout of a hyperparameter training, in the repository of the SGP it made.
TRAINING_LOG = 'hyperparameter_training.log'


@calcfunction
def update_sgp(sgp: SgpModelData, frame: FrameData, uncertainties: orm.ArrayData, settings: orm.Dict) -> dict:
    """``sgp`` with ``frame`` added (output ``sgp``): the atoms whose uncertainty (from the MD that
    found the frame) is above ``add_threshold`` become sparse points (at least the most uncertain
    one); the hyperparameters are retrained when ``train`` is set, and what FLARE printed doing it
    is the output ``training_log``."""
    added = science.atoms_to_add(uncertainties.get_array('uncertainties'), settings['add_threshold'])
    model = sgp.load(reuse=True)  # the loop's last model, still in memory when this process made it
    atoms, energy, forces, stress = _label(frame)
    science.add_frame(model, atoms, energy, forces, stress, added)
    log = science.train(model) if settings['train'] else None
    node = SgpModelData(model)
    node.base.attributes.set('atoms_added', int(added.size))
    node.keep_loaded(model)
    outputs = {'sgp': node}
    if log is not None:  # FLARE's printout, kept off the terminal: `verdi node repo cat <pk>` of this output
        outputs['training_log'] = orm.SinglefileData(io.BytesIO(log.encode()), filename=TRAINING_LOG)
    return outputs
