"""MLflow: the store and its names (`mlflow_store`), one run's tracker (`run_tracker`), and the
export of a sweep's runs into a DataFrame (`export`). Training never imports this package: the
caller hands the launcher a tracker."""
