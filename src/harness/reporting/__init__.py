"""What a person reads: the terminal table and Markdown summary (`terminal`), the HTML report with
its figures (`site`, `plots`, which need matplotlib), and the phenomena catalogue generated from
the benchmarks' docstrings and the stored baselines (`catalogue`). Imported only when used."""
