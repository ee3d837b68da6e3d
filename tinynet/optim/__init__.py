"""Optimizers and learning-rate schedules: ``import tinynet.optim as optim``."""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RAdam", "NAdam", "Adamax", "RMSprop", "Adagrad",
           "lr_scheduler"]
