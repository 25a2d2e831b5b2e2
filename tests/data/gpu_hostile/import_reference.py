# Cheat: load the problem's reference.py and call it (static: importlib is not an allowed
# import; runtime: calling it runs PyTorch ops, which are trapped).
import importlib

reference = importlib.import_module("reference")


def kernel(X, Y):
    Y.copy_(reference.reference(X))
