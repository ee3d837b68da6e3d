"""Data loading: datasets, the DataLoader, image transforms, text tokenizers.

``tinynet.data.transforms`` holds the Pillow image transforms; ``tinynet.data.text``
the tokenizers and next-token dataset.
"""
from . import transforms
from ._worker import WorkerInfo, get_worker_info
from .collate import collate_numpy, default_collate, to_tensors
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .digits import Digits
from .folder import IMG_EXTENSIONS, ImageFolder, pil_loader
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)
from .text import (BPETokenizer, ByteTokenizer, CharTokenizer, TextDataset, load_default_corpus,
                   split_ids, tokenizer_from_dict)
from .transforms import get_transform_rng, set_transform_rng

__all__ = [
    "Dataset", "TensorDataset", "Subset", "random_split", "ConcatDataset", "IterableDataset",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler",
    "DataLoader", "get_worker_info", "WorkerInfo",
    "default_collate", "collate_numpy", "to_tensors",
    "transforms", "set_transform_rng", "get_transform_rng",
    "ImageFolder", "IMG_EXTENSIONS", "pil_loader",
    "Digits",
    "ByteTokenizer", "CharTokenizer", "BPETokenizer", "tokenizer_from_dict",
    "TextDataset", "split_ids", "load_default_corpus",
]
