"""Units of work: corpora, data preparation, training, tracking, fitting, reports.

Nothing here imports `flows/`; the fitting math (`tasks.fitting`) imports only numpy/scipy.
"""
