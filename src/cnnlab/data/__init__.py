"""Data: the IDX codec, the named sets (MNIST, Fashion-MNIST, KMNIST, EMNIST, CIFAR-10, digits, synthetic) and
image folders, where each is found or downloaded, and batches drawn from uint8 tensors held in memory.

One module per concern; each imports only those below it (split is the leaf):
idx, split -> cifar -> catalog -> download, synthetic, folder -> load; batches (from split)."""
from .batches import Batches, display_images, display_input
from .catalog import (
    FILES,
    FOLDER_PREFIX,
    MIRRORS_ENV,
    SPECS,
    DatasetSpec,
    cache_dir,
    candidate_dirs,
    dataset_label,
    dataset_spec,
    emnist_files,
    how_to_get,
    locate,
    required_files,
    ways_to_get,
    where_looked,
)
from .download import fetch
from .idx import GZIP_MAGIC, IDX_MAGIC, MAX_IDX_ITEMS, READ_BLOCK, read_idx, write_idx
from .load import dataset_options, load_dataset
from .split import DEFAULT_TEST_SPLIT, SPLIT_SEED, Dataset, Split, channel_stats, stratified_split
from .synthetic import load_digits, make_synthetic

__all__ = [
    "Batches", "display_images", "display_input",
    "FILES", "FOLDER_PREFIX", "MIRRORS_ENV", "SPECS", "DatasetSpec", "cache_dir", "candidate_dirs", "dataset_label",
    "dataset_spec", "emnist_files", "how_to_get", "locate", "required_files", "ways_to_get", "where_looked",
    "fetch",
    "GZIP_MAGIC", "IDX_MAGIC", "MAX_IDX_ITEMS", "READ_BLOCK", "read_idx", "write_idx",
    "dataset_options", "load_dataset",
    "DEFAULT_TEST_SPLIT", "SPLIT_SEED", "Dataset", "Split", "channel_stats", "stratified_split",
    "load_digits", "make_synthetic",
]
