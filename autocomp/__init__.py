"""autocomp: LLM-driven beam search over accelerator kernels, verified on real hardware.

Importing the package is deliberately cheap: provider SDKs, targets and numpy-heavy
evaluation code load only when a command needs them.
"""

__version__ = "0.1.0"
