"""PyTorch's ``torch.nn.modules`` layout over tinynet's layers, for ported code that reaches
a class through the file PyTorch keeps it in, as torchvision's reference scripts do::

    norm_classes = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
                    nn.LayerNorm, nn.GroupNorm)
    from tinynet.nn.modules.loss import _Loss

Each ``nn.modules.<file>`` is a namespace holding the very classes of ``tinynet.nn`` (and
the private bases ``_BatchNorm``, ``_InstanceNorm``, ``_ConvNd``, ``_Loss``), not copies,
so ``isinstance`` checks agree; ``nn.modules.<Name>`` is every public class, as in PyTorch.

Differs from PyTorch: only the classes tinynet has (no BatchNorm3d, no Lazy* modules), and
``_InstanceNorm`` subclasses ``_BatchNorm`` here (in PyTorch both subclass ``_NormBase``),
so ``isinstance(nn.InstanceNorm2d(3), nn.modules.batchnorm._BatchNorm)`` is True.
"""
import importlib as _importlib
import sys as _sys
import types as _types

# PyTorch's file under torch/nn/modules/ -> the classes it defines
_LAYOUT = {
    "module": "Module",
    "linear": "Identity Linear Bilinear",
    "conv": "_ConvNd Conv1d Conv2d ConvTranspose1d ConvTranspose2d",
    "activation": "CELU ELU GELU GLU Hardshrink Hardsigmoid Hardswish Hardtanh LeakyReLU "
                  "LogSigmoid LogSoftmax Mish MultiheadAttention PReLU ReLU ReLU6 RReLU SELU "
                  "Sigmoid SiLU Softmax Softmax2d Softmin Softplus Softshrink Softsign Tanh "
                  "Tanhshrink Threshold",
    "loss": "_Loss BCELoss BCEWithLogitsLoss CosineEmbeddingLoss CrossEntropyLoss CTCLoss "
            "GaussianNLLLoss HingeEmbeddingLoss HuberLoss KLDivLoss L1Loss MarginRankingLoss "
            "MSELoss MultiLabelMarginLoss MultiLabelSoftMarginLoss MultiMarginLoss NLLLoss "
            "PoissonNLLLoss SmoothL1Loss SoftMarginLoss TripletMarginLoss "
            "TripletMarginWithDistanceLoss",
    "container": "Sequential ModuleList ModuleDict ParameterList ParameterDict",
    "batchnorm": "_BatchNorm BatchNorm1d BatchNorm2d",
    "instancenorm": "_InstanceNorm InstanceNorm1d InstanceNorm2d",
    "normalization": "LayerNorm GroupNorm LocalResponseNorm RMSNorm",
    "dropout": "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout",
    "sparse": "Embedding EmbeddingBag",
    "pooling": "AvgPool1d AvgPool2d MaxPool1d MaxPool2d MaxUnpool1d MaxUnpool2d LPPool1d "
               "LPPool2d AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveMaxPool1d AdaptiveMaxPool2d",
    "padding": "CircularPad1d CircularPad2d ConstantPad1d ConstantPad2d ReflectionPad1d "
               "ReflectionPad2d ReplicationPad1d ReplicationPad2d ZeroPad1d ZeroPad2d",
    "rnn": "RNNBase RNN LSTM GRU RNNCellBase RNNCell LSTMCell GRUCell",
    "transformer": "Transformer TransformerEncoder TransformerDecoder TransformerEncoderLayer "
                   "TransformerDecoderLayer",
    "upsampling": "Upsample UpsamplingNearest2d UpsamplingBilinear2d",
    "pixelshuffle": "PixelShuffle PixelUnshuffle",
    "flatten": "Flatten Unflatten",
    "fold": "Fold Unfold",
    "channelshuffle": "ChannelShuffle",
    "distance": "PairwiseDistance CosineSimilarity",
}

# tinynet's own files, which keep some classes elsewhere (GroupNorm in batchnorm.py, ...)
_FILES = ("activation", "attention", "batchnorm", "containers", "conv", "dropout", "embedding",
          "linear", "loss", "loss_extra", "module", "normalization", "padding", "pooling", "rnn",
          "transformer", "upsampling", "vision")
# every class defined (or imported) in them, by name
_CLASSES = {name: obj for file in _FILES
            for name, obj in vars(_importlib.import_module(f".{file}", __package__)).items()
            if isinstance(obj, type)}

for _file, _names in _LAYOUT.items():
    _namespace = _types.ModuleType(f"{__name__}.{_file}",
                                   f"torch.nn.modules.{_file}: tinynet's {_names}")
    for _name in _names.split():
        setattr(_namespace, _name, _CLASSES[_name])
        if not _name.startswith("_"):
            globals()[_name] = _CLASSES[_name]
    globals()[_file] = _namespace
    _sys.modules[_namespace.__name__] = _namespace   # `from tinynet.nn.modules.x import y`
