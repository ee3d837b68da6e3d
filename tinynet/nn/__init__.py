"""Layers and models: ``import tinynet.nn as nn``."""
from . import init, utils
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .activation import (CELU, ELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish,
                         PReLU, ReLU6, Softplus, Softsign)
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
from .parameter import Buffer, Parameter
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from .containers import ParameterDict
from .conv import Conv1d
from .dropout import Dropout1d, Dropout2d, Dropout3d
from .normalization import InstanceNorm1d, InstanceNorm2d
from .padding import (CircularPad1d, CircularPad2d, ConstantPad1d, ConstantPad2d, ReflectionPad1d,
                      ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, ZeroPad1d, ZeroPad2d)
from .pooling import AdaptiveAvgPool1d, AdaptiveMaxPool1d, AvgPool1d, MaxPool1d
from .upsampling import (PixelShuffle, PixelUnshuffle, Upsample, UpsamplingBilinear2d,
                         UpsamplingNearest2d)
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .pooling import LPPool1d, LPPool2d, MaxUnpool1d, MaxUnpool2d
from .vision import ChannelShuffle, ConvTranspose1d, Fold, LocalResponseNorm, Softmax2d, Unfold
from .linear import Bilinear
from .loss_extra import (CosineEmbeddingLoss, CosineSimilarity, CTCLoss, GaussianNLLLoss,
                         HingeEmbeddingLoss, MarginRankingLoss, MultiLabelMarginLoss,
                         MultiLabelSoftMarginLoss, MultiMarginLoss, PairwiseDistance,
                         PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss,
                         TripletMarginWithDistanceLoss)
from .activation import Hardshrink, RReLU, Softmin, Softshrink, Tanhshrink, Threshold
from .dropout import AlphaDropout, FeatureAlphaDropout
from .embedding import EmbeddingBag
from . import modules   # torch.nn.modules' files: nn.modules.batchnorm._BatchNorm, ...

# ``import tinynet.nn.functional as F`` works as ``torch.nn.functional`` does in ported
# code: it is the very module ``tinynet.functional``, registered under a second name.
import sys as _sys
from .. import functional
_sys.modules[__name__ + ".functional"] = functional
