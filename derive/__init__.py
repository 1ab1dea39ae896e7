"""Derive a small network's gradients with SymPy and emit LaTeX and NumPy code from them.

Data flows one way: spec -> network (symbolic model) -> gradients -> latex / codegen -> files.
"""
