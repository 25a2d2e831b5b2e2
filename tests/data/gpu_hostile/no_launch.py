# Cheat: no kernel at all; the output is filled with a plausible constant (runtime: no Triton
# launch happened during the call).
def kernel(X, Y):
    Y.fill_(1.0 / X.shape[1])
