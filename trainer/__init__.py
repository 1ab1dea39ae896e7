"""What runs after the derivation: training (train.py is its command line), the files and
figures of a run, and its report (`python -m trainer.report`)."""
