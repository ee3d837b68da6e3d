"""Layers and models: ``import tinynet.nn as nn``."""
from . import init, utils
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .attention import MultiheadAttention
from .batchnorm import BatchNorm1d, BatchNorm2d, GroupNorm
from .containers import (Flatten, Identity, ModuleDict, ModuleList, ParameterList, Sequential,
                         Unflatten)
from .conv import Conv2d, ConvTranspose2d
from .dropout import Dropout
from .embedding import Embedding
from .linear import Linear
from .lora import LoRALinear, apply_lora, load_lora_state_dict, lora_state_dict, merge_lora
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss,
                   MSELoss, NLLLoss, SmoothL1Loss)
from .module import IncompatibleKeys, Module, RemovableHandle, StateDictError
from .normalization import LayerNorm, RMSNorm
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
