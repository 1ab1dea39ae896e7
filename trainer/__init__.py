"""What runs after the derivation: reports of training runs (train.py holds the rest)."""
