"""Fine-tuning jobs: causal-LM training (full or LoRA) on the job engine."""
