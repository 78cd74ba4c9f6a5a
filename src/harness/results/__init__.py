"""What a run leaves on disk and how it is judged later: the run record's types and schema
(`schema`), reading, writing and merging run records (`runs`), the YAML baseline store
(`baselines`) and the comparison of two runs (`compare`). Nothing here imports torch."""
