"""Evaluation of candidate kernels: sandboxed child processes, correctness checks, timing."""
