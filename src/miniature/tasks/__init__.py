"""Fine-tuning and prediction per task (extractive QA; classification comes with the attack)."""
