"""elfrl: RL post-training (GRPO with teacher feedback) for driving vision-language-action models."""
