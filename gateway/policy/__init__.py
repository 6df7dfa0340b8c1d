"""What a principal may do: model tiers (here), budgets and system prompts (sibling modules)."""
