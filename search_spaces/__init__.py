"""What can be searched: architectures, spaces, their operators and complexity."""

from search_spaces.arch import ArchConfig
from search_spaces.batch import ArchBatch, from_batch, sample_batch, to_batch
from search_spaces.complexity import complexity, flops, params
from search_spaces.encoding import encode, encode_batch, feature_names
from search_spaces.errors import InvalidArchError, NasError, SpaceError
from search_spaces.loading import builtin_names, load_space, load_space_file, space_from_dict
from search_spaces.space import Dimension, SearchSpace

__all__ = [
    "ArchBatch",
    "ArchConfig",
    "Dimension",
    "InvalidArchError",
    "NasError",
    "SearchSpace",
    "SpaceError",
    "builtin_names",
    "complexity",
    "encode",
    "encode_batch",
    "feature_names",
    "flops",
    "from_batch",
    "load_space",
    "load_space_file",
    "params",
    "sample_batch",
    "space_from_dict",
    "to_batch",
]
