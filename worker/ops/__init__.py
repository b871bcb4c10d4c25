"""Operating the pipeline: counters the workers keep, stats, health probes, metrics, bulk import.

(Filled in by the operations work: each module's docstring tells its part.)
"""
