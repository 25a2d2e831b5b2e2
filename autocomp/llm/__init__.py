"""Our own thin LLM interface; provider SDKs stay behind it and load lazily."""
