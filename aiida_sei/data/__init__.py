"""Data types of aiida-sei (entry points ``sei.*`` in ``aiida.data``)."""

from .dataset import DatasetData
from .frame import FrameData

__all__ = ('DatasetData', 'FrameData')
