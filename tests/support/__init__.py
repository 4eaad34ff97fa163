"""What the tests share: real servers to run against, test media, ways to measure sound, and
the processes and commands the tests drive. Importable as ``support`` (pytest's ``pythonpath``)."""
