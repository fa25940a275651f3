"""The transformer family: target N -> shape, exact parameter counts, build via transformers.

Knows nothing of Prefect or MLflow.
"""
