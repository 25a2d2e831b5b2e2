"""The beam search: expand (plan, implement) -> evaluate -> select."""
