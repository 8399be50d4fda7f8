"""Data types of aiida-sei (entry points ``sei.*`` in ``aiida.data``)."""

from .clustering import ClusteringData
from .dataset import DatasetData
from .frame import FrameData
from .model import CompiledModelData, ModelData

__all__ = ('ClusteringData', 'CompiledModelData', 'DatasetData', 'FrameData', 'ModelData')
