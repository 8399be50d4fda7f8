"""``sei.sgp``: a FLARE sparse Gaussian process, stored as FLARE's own JSON file."""

from __future__ import annotations

import io

from aiida.orm import SinglefileData

FILENAME = 'sgp.json'


class SgpModelData(SinglefileData):
    """A FLARE SGP (B2 descriptor) as FLARE's JSON (``SGP_Calculator.as_dict``): plain data, so
    loading one from an archive runs no code.

    Attributes (queryable): species, descriptor (cutoff, n_max, l_max), hyperparameters,
    n_training_structures, n_sparse (sparse environments), flare_version.
    """

    def __init__(self, sgp=None, **kwargs):
        if sgp is not None:
            from aiida_sei.science import sgp as science

            kwargs['file'] = io.BytesIO(science.to_json(sgp).encode())
            kwargs.setdefault('filename', FILENAME)
        super().__init__(**kwargs)
        if sgp is not None:
            self._set_summary(sgp)

    def _set_summary(self, sgp) -> None:
        from importlib.metadata import version

        from aiida_sei.science import sgp as science

        self.base.attributes.set_many({**science.summary(sgp), 'flare_version': version('mir-flare')})

    @property
    def species(self) -> list[str]:
        return self.base.attributes.get('species')

    @property
    def n_training_structures(self) -> int:
        return self.base.attributes.get('n_training_structures')

    def load(self):
        """The model as a :class:`aiida_sei.science.sgp.SparseGP`."""
        from aiida_sei.science import sgp as science

        return science.from_json(self.get_content())
