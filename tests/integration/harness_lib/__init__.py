# SPDX-License-Identifier: MIT
"""The parts of tests/integration/harness.py, one concern per module; tests
import harness, which re-exports them all (see its docstring)."""

import os
import sys

# tests/pdsim: pdsim_launch, the one way every test starts the simulator.
_PDSIM_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "pdsim")
if _PDSIM_DIR not in sys.path:
    sys.path.append(_PDSIM_DIR)
