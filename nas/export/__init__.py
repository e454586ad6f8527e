"""Export of chosen subnets as standalone bundles (config, weights, StableHLO, ONNX, card)."""

from nas.export.bundle import write_bundle
from nas.export.load import Subnet, load_subnet

__all__ = ["Subnet", "load_subnet", "write_bundle"]
