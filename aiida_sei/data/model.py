"""``sei.model``: a packaged nequip/Allegro model file with what it needs to be used safely."""

from __future__ import annotations

from aiida.orm import SinglefileData


class ModelData(SinglefileData):
    """A ``.nequip.zip`` package (portable across machines, unlike a compiled model).

    Attributes: species (list), r_max (Å), versions (nequip, nequip-allegro, torch that made it),
    dataset_uuid (training set) and architecture (the model block of the training config).
    """

    @property
    def species(self) -> list[str]:
        return self.base.attributes.get('species')

    @property
    def r_max(self) -> float:
        return self.base.attributes.get('r_max')

    def set_model_metadata(self, species, r_max, versions, dataset_uuid=None, architecture=None) -> None:
        self.base.attributes.set_many(
            {
                'species': list(species),
                'r_max': float(r_max),
                'versions': dict(versions),
                'dataset_uuid': dataset_uuid,
                'architecture': architecture or {},
            }
        )


class CompiledModelData(SinglefileData):
    """An AOTInductor-compiled model (``.nequip.pt2``): runs only with the torch and the kind of
    machine (CPU/GPU) that compiled it, so it is a separate node linked to its package.

    Attributes: target (ase, pair_allegro), device (cpu, cuda), species, r_max, torch version,
    package_uuid.
    """

    @property
    def target(self) -> str:
        return self.base.attributes.get('target')

    @property
    def species(self) -> list[str]:
        return self.base.attributes.get('species')
