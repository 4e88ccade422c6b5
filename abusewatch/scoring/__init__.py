"""Step 3, score: the post-scores builder, rule layers (doxxing), the model and its inference engine."""
