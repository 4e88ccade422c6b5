"""The multi-label abuse classifier: network, artifact format, training data, training and evaluation.

Import the submodules directly (`abusewatch.scoring.model.artifact`, ...): importing this package does not
import torch, so commands that never touch the model stay fast.
"""
