"""Reading results: the rate–distortion plane and the table of runs (no Lightning imports)."""
