"""Layers and models: ``import tinynet.nn as nn``."""
from . import init
from .containers import Flatten, Identity, ModuleDict, ModuleList, Sequential, Unflatten
from .module import IncompatibleKeys, Module, RemovableHandle, StateDictError
from .parameter import Parameter
