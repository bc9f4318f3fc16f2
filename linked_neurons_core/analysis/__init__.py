"""The article's analysis, Keras-free, from the per-run tables.

names: the table's labels and each experiment's layout; units: a table
cell's runs and their summary; tables: the article's tables by layout;
published: the paper's values as per-run rows; numbers: the prose's numbers;
claims: the paper's claims judged; intervals: their 95% intervals; runs: one
run's status. The workflow's scripts (workflow/scripts/) read and write files
around them.
"""
