"""Where a plan's strategy came from: the shipped menu, the items a model proposed for this run
before the search (`[search] extend_menu`), or the plan itself (`New strategy: NAME`).

Nothing extra is stored per plan: a plan's own strategy is read back from its stored text (the
same `New strategy:` line the parser took it from), and the run's extra items are one event.
"""

from __future__ import annotations

from typing import Literal

from autocomp.agents.parsing import NEW_STRATEGY
from autocomp.store.runstore import RunStore
from autocomp.targets.base import MenuItem

MENU_EVENT = "menu_extension"  # the extra menu items of a run, stored once before iteration 1

Source = Literal["menu", "extended", "own"]
LABELS: dict[str, str] = {"menu": "", "extended": " (proposed for this problem)", "own": " (own strategy)"}


def extended_items(store: RunStore) -> tuple[MenuItem, ...]:
    """The extra menu items stored with the run (none when extend_menu was off)."""
    stored = store.events(MENU_EVENT)
    return tuple(MenuItem(i["name"], i["description"]) for i in stored[-1]["items"]) if stored else ()


def strategy_source(menu_item: str | None, plan_text: str | None, extended: set[str]) -> Source:
    if menu_item and plan_text:
        own = NEW_STRATEGY.search(plan_text)
        if own and own.group(1).strip().rstrip(".")[:120] == menu_item:
            return "own"
    return "extended" if menu_item in extended else "menu"
