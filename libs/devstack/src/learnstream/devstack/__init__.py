"""The embedded Learnstream stack: real servers from pip wheels and the six services,
supervised on one machine (``make run``), plus the same servers for test fixtures."""
