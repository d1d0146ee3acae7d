"""Makes PyTorch Lightning 2.1 import with Debian's python3-torch on Python 3.11.

Import this module before importing Lightning. It changes nothing unless the
broken combination is present.

Why: Debian's torch package reports its version as "1.13.0a0". Lightning 2.1
compares versions with packaging, where a pre-release sorts before the release,
so it concludes torch is older than 1.13 and takes code paths for old torch
(torch._UntypedStorage, which this torch no longer has), and fails to import.
We report "1.13.1", the release this build corresponds to, while Lightning
reads it. Separately, with this torch on Python 3.11, importing
torch.distributed._shard fails; LightningModule.__init__ imports it only to
register state-dict hooks for sharded tensors, which these examples never
use, so that hook registration is replaced with a no-op.

Known to work: pytorch-lightning==2.1.4 with torchmetrics==1.2.1.
"""

import torch

BROKEN_TORCH_VERSION = "1.13.0a0"


def apply():
    """Patches torch's version string before Lightning is imported (idempotent)."""
    if str(torch.__version__).split("+")[0] == BROKEN_TORCH_VERSION:
        torch.__version__ = "1.13.1"


def _shard_import_broken():
    try:
        import torch.distributed._shard  # noqa: F401
    except Exception:
        return True
    return False


def patch_lightning_module(module_cls):
    """Skips sharded-tensor hook registration when torch.distributed._shard cannot be imported."""
    if _shard_import_broken():
        module_cls._register_sharded_tensor_state_dict_hooks_if_available = lambda self: None


apply()
