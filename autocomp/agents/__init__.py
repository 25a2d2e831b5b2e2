"""Agents write plans and code. LLM agents and the offline tuner share one protocol."""
