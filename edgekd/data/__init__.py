"""Data: built-in scikit-learn datasets, .npz and CSV files, split and normalized."""
