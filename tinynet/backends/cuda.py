"""``tn.backends.cuda``: ``matmul.allow_tf32`` and friends, accepted settings with no effect."""
from types import SimpleNamespace

matmul = SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                         allow_bf16_reduced_precision_reduction=True)
