"""The serving process's plumbing: the server and its drain on SIGTERM, the lifecycle the
probes read, the garbage collector's tuning and the metrics set-up before workers start."""
