"""Training: the loop, its config and KD fine-tuning, shared by every stage that trains."""
