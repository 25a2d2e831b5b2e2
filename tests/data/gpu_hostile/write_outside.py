# Cheat: leave a file outside the scratch folder, e.g. to pass state to a later evaluation
# (runtime, static layer off: the audit hook refuses writes outside scratch).
def kernel(X, Y):
    with open("/tmp/autocomp-hostile-note", "w") as f:
        f.write("hello")
