"""The Learnstream benchmark suite (``make bench``, ``make bench-quick``)."""
