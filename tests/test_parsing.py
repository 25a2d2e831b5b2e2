"""Reply parsing on real-world ugliness."""

from __future__ import annotations

from autocomp.agents.parsing import extract_code, extract_plan, strip_reasoning
from autocomp.evaluation.c_language import C_LANGUAGE
from autocomp.targets.base import MenuItem

FN = "void gemm(const float *A, const float *B, float *C) { C[0] = A[0] * B[0]; }"


def test_last_code_block_wins_and_prose_after_is_ignored() -> None:
    reply = f"First try:\n```c\nvoid helper(void) {{}}\n```\nBetter:\n```c\n{FN}\n```\nDone, enjoy!"
    assert extract_code(reply, "gemm", C_LANGUAGE) == FN + "\n"


def test_block_without_language_tag_and_with_other_languages() -> None:
    reply = f"```\n{FN}\n```\n```python\nprint('gemm(')\n```"
    assert extract_code(reply, "gemm", C_LANGUAGE) == FN + "\n"


def test_reasoning_is_dropped() -> None:
    reply = f"<think>maybe ```c\nvoid gemm(int x) {{ wrong }}\n```</think>\n```c\n{FN}\n```"
    assert extract_code(reply, "gemm", C_LANGUAGE) == FN + "\n"
    assert strip_reasoning("<think>abc</think>answer") == "answer"
    assert strip_reasoning("answer <think>unfinished") == "answer"


def test_unfenced_code_is_found_only_if_the_entry_is_defined() -> None:
    reply = f"Sure! Here it is:\n#include <stddef.h>\n{FN}\nHope it helps."
    code = extract_code(reply, "gemm", C_LANGUAGE)
    assert code is not None and code.startswith("#include") and code.rstrip().endswith("}")
    assert extract_code("I cannot help with that.", "gemm", C_LANGUAGE) is None
    assert extract_code("```c\nint main(void) { return 0; }\n```", "gemm", C_LANGUAGE) is None


def test_truncated_fence_still_yields_the_code() -> None:
    assert extract_code(f"```c\n{FN}\n", "gemm", C_LANGUAGE) == FN + "\n"


def test_plan_menu_item() -> None:
    menu = (MenuItem("loop tiling", ""), MenuItem("loop unrolling", ""))
    assert extract_plan("Chosen item: 2\nUnroll by 4.", menu)[1] == "loop unrolling"
    assert extract_plan("**Menu item 1** tile it", menu)[1] == "loop tiling"
    assert extract_plan("I will apply loop tiling to i and j.", menu)[1] == "loop tiling"
    assert extract_plan("Chosen item: 9\nSomething", menu)[1] is None
