"""Cloud accounts: AWS onboarding, discovery, waste, storage, costs and governance."""
