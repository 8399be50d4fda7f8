"""``sei.sgp``: a FLARE sparse Gaussian process, stored as FLARE's own JSON file."""

from __future__ import annotations

import io

from aiida.orm import SinglefileData

FILENAME = 'sgp.json'

#: The model behind the SGP node made last in this Python process, by node UUID: the next update
#: starts from it instead of rebuilding it from the JSON (FLARE recomputes every training
#: structure's descriptors to load a model: ~1 s for 8 frames of 52 atoms, growing with the data).
_KEPT: dict = {}


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

    def load(self, reuse: bool = False):
        """The model as a :class:`aiida_sei.science.sgp.SparseGP`. With ``reuse``, the model kept
        by :meth:`keep_loaded` if it is this node's (the caller then owns it: it is handed out
        once), else one built from the JSON."""
        from aiida_sei.science import sgp as science

        kept = _KEPT.pop(self.uuid, None) if reuse else None
        if kept is not None and self._describes(science.summary(kept)):
            return kept
        return science.from_json(self.get_content())

    def _describes(self, summary: dict) -> bool:
        """Whether this node's attributes are ``summary`` (AiiDA stores floats to 14 digits)."""
        import math

        for key, value in summary.items():
            stored = self.base.attributes.get(key)
            if key == 'hyperparameters':
                if len(stored) != len(value) or not all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(stored, value)):
                    return False
            elif stored != value:
                return False
        return True

    def keep_loaded(self, sgp) -> None:
        """Keep ``sgp``, the model this node was made from, for the next ``load(reuse=True)``;
        the caller must not change it afterwards."""
        _KEPT.clear()
        _KEPT[self.uuid] = sgp
