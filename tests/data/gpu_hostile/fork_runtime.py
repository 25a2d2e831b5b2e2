# Cheat: fork a helper that keeps running (runtime, static layer off: the audit hook refuses it).
def kernel(X, Y):
    __import__("os").fork()
