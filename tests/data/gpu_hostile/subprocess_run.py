# Cheat: start a process (static: subprocess is not an allowed import).
import subprocess


def kernel(X, Y):
    subprocess.run(["true"])
