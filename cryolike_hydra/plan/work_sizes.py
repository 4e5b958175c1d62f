"""How much the transform holds at once: its read buffers and the NUFFT's work chunks.

The transform (``streaming``, ``nufft``) sizes itself with these, and the memory estimate made before a
conversion (``memory``) counts with them. They live here, apart from the torch code, so that the checks
and the dry run never import torch.
"""

from __future__ import annotations

N_READ_BUFFERS = 2  # the stack being transformed and the one being read
# Images per NUFFT batch chunk and a cap on the chunk's work buffers, per device type. On the CPU,
# throughput is flat (within ~10%) from 8 to 40 images per chunk at n = 64 … 256 and drops beyond; a GPU
# wants large chunks.
CHUNK_LIMITS = {"cpu": (16, 64 * 2**20), "cuda": (1024, 1024 * 2**20)}
