"""Static rules for GPU candidates, checked on the source before anything runs.

They close the escape hatches a Python kernel would otherwise have inside the process that
also holds the timers and the baselines (docs/evaluation-hygiene.md, "GPU kernels"): other
modules (files, processes, sockets, threads), reflection (private attributes, `getattr`,
`__import__`), rebinding anything (`torch.cuda.synchronize = ...`), side streams and graphs
that would let work escape the timed region, PyTorch's own implementations of the op
(`torch.nn`), and triton's timing and runtime internals. What a rule cannot see statically,
the driver checks at run time (ops trapped during the call, timers verified after it).
"""

from __future__ import annotations

import ast
import re

ALLOWED_MODULES = ("torch", "triton", "triton.language", "math")

BANNED_NAMES = {"eval", "exec", "compile", "__import__", "open", "globals", "locals", "vars", "getattr", "setattr",
                "delattr", "breakpoint", "__builtins__", "memoryview", "classmethod", "staticmethod", "type"}

# attribute chains (after resolving import aliases) a kernel has no business touching
BANNED_CHAINS = ("torch.save", "torch.load", "torch.hub", "torch.from_file", "torch.utils", "torch.library", "torch.ops",
                 "torch.multiprocessing", "torch.distributed", "torch.compile", "torch.jit", "torch.nn", "torch.backends",
                 "torch.cuda.graph", "torch.cuda.graphs", "torch.cuda.CUDAGraph", "torch.cuda.memory",
                 "triton.compile", "triton.runtime", "triton.knobs", "triton.testing", "triton.tools", "triton.backends")

# attribute names banned on any object: streams and events (work escaping the timed region, timers)
BANNED_ATTRIBUTES = {"Stream", "stream", "set_stream", "ExternalStream", "current_stream", "default_stream",
                     "wait_stream", "record_stream", "synchronize", "Event", "elapsed_time", "CUDAGraph", "graph"}


def check_triton(code: str) -> tuple[str, str] | None:
    """None when `code` may run; else (outcome, message): "compile_error" for a syntax error,
    "policy_violation" for a broken rule (with its line)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return "compile_error", f"SyntaxError: {exc.msg} (line {exc.lineno})"
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_MODULES:
                    return _violation(node, f"imports {alias.name}; a kernel may import only {', '.join(ALLOWED_MODULES)}")
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.module not in ALLOWED_MODULES or node.level:
                return _violation(node, f"imports from {node.module}; a kernel may import only {', '.join(ALLOWED_MODULES)}")
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if alias.name == "*" or _banned_chain(full) or alias.name.startswith("_"):
                    return _violation(node, f"imports {full}, which kernels may not use")
                aliases[alias.asname or alias.name] = full
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in BANNED_NAMES:
            return _violation(node, f"uses {node.id}(); kernels may not reflect on or load code")
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                return _violation(node, f"reads the private attribute .{node.attr}")
            if node.attr in BANNED_ATTRIBUTES:
                return _violation(node, f"uses .{node.attr}: streams, events, graphs and synchronization belong to the "
                                        "evaluator (work on another stream would escape the timed region)")
            chain = _chain(node, aliases)
            if chain and _banned_chain(chain):
                return _violation(node, f"uses {chain}; write the kernel in Triton instead of calling PyTorch's or "
                                        "triton's own implementations, runtime or timers")
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                return _violation(node, f"assigns to an attribute (.{node.attr}); kernels may not rebind anything "
                                        "(a patched timer or synchronize would fool the measurement)")
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            return _violation(node, "uses global/nonlocal; state kept across calls could replay outputs")
    return None


def _chain(node: ast.Attribute, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    cur: ast.expr = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    if not isinstance(cur, ast.Name) or cur.id not in aliases:
        return None
    return ".".join([aliases[cur.id], *reversed(parts)])


def _banned_chain(chain: str) -> bool:
    return any(chain == b or chain.startswith(b + ".") for b in BANNED_CHAINS)


def _violation(node: ast.AST, message: str) -> tuple[str, str]:
    return "policy_violation", f"line {getattr(node, 'lineno', '?')}: {message}"


# CUDA C++: host-side escape hatches, checked on the text (comments and strings included, which
# errs on the side of refusing)
CUDA_BANNED = {
    r"\bcudaStreamCreate\w*|\bgetStreamFromPool\b|\bat::cuda::setCurrentCUDAStream\b|\bcudaGraph\w*":
        "creates or switches CUDA streams or graphs (work would escape the timed region)",
    r"\bstd::thread\b|\bpthread_create\b|\bfork\s*\(|\bsystem\s*\(|\bpopen\s*\(|\bexec[lv]p?e?\s*\(":
        "starts threads or processes",
    r"\bfopen\b|\bstd::[io]?fstream\b|\bopen\s*\(|\bsocket\s*\(|\bdlopen\b":
        "opens files, sockets or libraries",
    r"\b(?:at|torch)::(?:matmul|mm|bmm|addmm|softmax|_softmax|log_softmax|layer_norm|linear|conv2d|einsum|"
    r"scaled_dot_product_attention|sum|mean)\b|\.(?:matmul|mm|softmax)\s*\(":
        "calls PyTorch's implementation of the operation instead of a kernel",
    r"\bcudaEvent\w*|\bclock64?\s*\(|\bcudaDeviceSynchronize\b": "touches timers, events or device synchronization",
}


def check_cuda(code: str) -> tuple[str, str] | None:
    for pattern, why in CUDA_BANNED.items():
        found = re.search(pattern, code)
        if found:
            line = code.count("\n", 0, found.start()) + 1
            return "policy_violation", f"line {line}: `{found.group(0)}` {why}"
    return None
