"""Measuring tools for people deciding how to use the backend, run from the `lsbert`
command only: `lsbert simulate` (how many labels a project needs: a data set replayed
through the real training run) and `lsbert bench` (throughput, latency, training time,
memory, each beside a baseline measured in the same run)."""
