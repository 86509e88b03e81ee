"""The model registry: search and pull from a Hugging Face hub; local models, activation."""
