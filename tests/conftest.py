"""Suite-wide settings: one torch thread.

The test machines have 2 cores shared with other jobs; torch's intra-op threads then fight each other and the
batches in these tests are small, so one thread is both faster and reproducible in timing.
"""

from __future__ import annotations

import torch

torch.set_num_threads(1)
