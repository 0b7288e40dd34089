"""Tools around the pipeline: the smoke run against golden numbers, the cache benchmark, and the
code dependencies of every DVC stage derived from the imports."""
