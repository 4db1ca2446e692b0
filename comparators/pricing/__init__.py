"""What an answer costs and what it may cost: the price table (LiteLLM's layout) and the
per-query budgets, shared by the cost and latency comparators."""
