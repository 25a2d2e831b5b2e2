# Cheat: the network through __import__ (runtime, static layer off: the audit hook refuses it).
def kernel(X, Y):
    __import__("socket").socket().connect(("203.0.113.1", 80))
