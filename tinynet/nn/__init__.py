"""Layers and models: ``import tinynet.nn as nn``."""
from . import init, utils
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .containers import Flatten, Identity, ModuleDict, ModuleList, Sequential, Unflatten
from .dropout import Dropout
from .linear import Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss,
                   MSELoss, NLLLoss, SmoothL1Loss)
from .module import IncompatibleKeys, Module, RemovableHandle, StateDictError
from .parameter import Parameter
