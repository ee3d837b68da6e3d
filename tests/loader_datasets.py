"""Small datasets shared by the DataLoader tests (tests/data/test_dataloader.py and
tests/test_data_loader_review.py)."""
import numpy as np

from tinynet.data import Dataset
from tinynet.data.transforms import get_transform_rng


class Squares(Dataset):
    """Item i: (float32 [i, i*i], i). No __getitems__, so items go through collate."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i


class Noisy(Squares):
    """Item i plus a draw from the transform RNG, like a random augmentation."""

    def __getitem__(self, i):
        return np.float32(i + get_transform_rng().random()), i
