"""The label set the classifier predicts. Order matters: it is the order of the model's outputs."""

LABELS: tuple[str, ...] = (
    "toxicity",  # any of the others, or otherwise rude / abusive
    "threat",  # threat of violence
    "insult",
    "identity_attack",  # hate against a protected group
    "sexual_harassment",
    "obscene",
)
