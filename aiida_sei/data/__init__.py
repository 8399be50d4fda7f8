"""Data types of aiida-sei (entry points ``sei.*`` in ``aiida.data``)."""

from .clustering import ClusteringData
from .dataset import DatasetData
from .frame import FrameData
from .md_state import MdStateData
from .model import CompiledModelData, ModelData
from .sgp import SgpModelData

__all__ = ('ClusteringData', 'CompiledModelData', 'DatasetData', 'FrameData', 'MdStateData', 'ModelData', 'SgpModelData')
