"""After a sweep: the objective a sweeper maximises, the summary table and its figures."""
