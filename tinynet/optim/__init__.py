"""Optimizers and learning-rate schedules: ``import tinynet.optim as optim``."""
from . import lr_scheduler, swa_utils
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rprop import Rprop
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RAdam", "NAdam", "Adamax", "RMSprop", "Adagrad",
           "Adadelta", "Rprop", "ASGD", "LBFGS", "lr_scheduler"]
