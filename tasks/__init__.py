"""Units of work, one package per stage; each package imports only those below it.

common (errors, project paths, process helpers) < data (corpora, preparation) and fitting (numpy
and scipy only) < train (one run, knowing nothing of MLflow or Prefect) < tracking (MLflow) and
report (fit outputs, figures) < services (servers, warm-up) < sweep (config, plan, Prefect units).
Nothing here imports `flows/`. docs/architecture.md draws it; tests/test_layout.py enforces it.
"""
