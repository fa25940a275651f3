"""Scaling-law fitting math: numpy and scipy only (no torch, prefect, mlflow or pandas).

Entry points:
- `analysis.analyse(Runs, AnalysisOptions, progress) -> Analysis`: scratch surface (Kaplan or
  Chinchilla), per-N curves, effective data, transfer law per source, bootstrap intervals.
- `robust.fit_form(form, X, y, FitOptions) -> FitResult`: one robust Huber/L-BFGS-B fit.
- `predict.predict_from_fit(fit_json_dict, n, d_f, source) -> Prediction`: the calculator.
- `results.FitReport.from_json(fit_json_dict)`: fit.json as frozen types, `to_json()` back (docs/fit-json.md).
The report layer (tasks.report.fit.fit_runs) turns an Analysis into fit.json and figures.
"""
